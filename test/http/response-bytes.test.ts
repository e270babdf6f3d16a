// The answer to a given AdmissionReview is pinned byte for byte: speed work on the admission path
// (parsing, serialisation, logging) must not change a single byte of what the apiserver receives.
// The expected bytes in test/fixtures/admission-responses/ were recorded from prepull before that
// work began, by POSTing each captured review below, compacted as the apiserver sends it.
import { readdirSync, readFileSync } from "node:fs";
import type { Agent } from "node:https";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../scripts/cluster/paths.ts";
import { send } from "../support/https-client.ts";
import { startTrustedTestServer, type TestServer, type TrustedTestServer } from "../support/test-server.ts";

const REVIEWS = join(REPO_ROOT, "test", "fixtures", "admission-reviews");
const RESPONSES = join(REPO_ROOT, "test", "fixtures", "admission-responses");

let trusted: TrustedTestServer;
let server: TestServer;
let ca: string;
let agent: Agent;

beforeAll(async () => {
  trusted = await startTrustedTestServer("response-bytes");
  ({ server, ca, agent } = trusted);
});

afterAll(() => trusted.close());

const cases = readdirSync(REVIEWS).filter((name) => name.endsWith(".json"));

describe("POST /mutate answers captured reviews with pinned bytes", () => {
  it("has a pinned response for every captured review", () => {
    expect(readdirSync(RESPONSES).sort()).toEqual([...cases].sort());
    expect(cases).toHaveLength(7);
  });

  it.each(cases)("%s", async (name) => {
    const body = JSON.stringify(JSON.parse(readFileSync(join(REVIEWS, name), "utf8")));
    const expected = readFileSync(join(RESPONSES, name));
    for (let attempt = 0; attempt < 2; attempt++) {
      const reply = await send({
        port: server.port,
        ca,
        agent,
        path: "/mutate",
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
      expect(reply.status).toBe(200);
      expect(reply.headers["content-type"]).toBe("application/json; charset=utf-8");
      expect(reply.headers["content-length"]).toBe(String(expected.length));
      expect(reply.text).toBe(expected.toString("utf8"));
    }
  });

  it("pins a patch a reader can check: the update records its image digest under prepull.dev/images", () => {
    const reply = JSON.parse(readFileSync(join(RESPONSES, "deployment-update.json"), "utf8"));
    expect(reply.response.uid).toBe("ff9d562f-0422-4ede-8c68-2f6f3be968d3");
    expect(JSON.parse(Buffer.from(reply.response.patch, "base64").toString("utf8"))).toEqual([
      { op: "add", path: "/metadata/annotations/prepull.dev~1images", value: "sha256:56af7b441bcb01cc" },
    ]);
  });
});
