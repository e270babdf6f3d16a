// Every kind of bad input gets a 4xx whose JSON body names the problem, and the server keeps serving.
import type { Agent } from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type HttpsRequest, postJson, send } from "../support/https-client.ts";
import { admissionReview, deployment } from "../support/reviews.ts";
import { startTrustedTestServer, type TestServer, type TrustedTestServer } from "../support/test-server.ts";

let trusted: TrustedTestServer;
let server: TestServer;
let ca: string;
let agent: Agent;

beforeAll(async () => {
  trusted = await startTrustedTestServer("bad-input");
  ({ server, ca, agent } = trusted);
});

afterAll(() => trusted.close());

const json = { "content-type": "application/json" };
const good = () => admissionReview(deployment(), { uid: "good-uid" });
const withRequest = (change: (request: Record<string, unknown>) => void) => {
  const review = good();
  change(review.request as Record<string, unknown>);
  return JSON.stringify(review);
};

interface BadCase {
  name: string;
  request: Omit<HttpsRequest, "port" | "ca">;
  status: number;
  error: RegExp;
}

const cases: BadCase[] = [
  {
    name: "malformed JSON",
    request: {
      path: "/mutate",
      method: "POST",
      headers: json,
      body: '{"apiVersion": "admission.k8s.io/v1",',
    },
    status: 400,
    error: /not valid JSON/,
  },
  {
    name: "empty body",
    request: { path: "/mutate", method: "POST", headers: json, body: "" },
    status: 400,
    error: /body is empty/,
  },
  {
    name: "a JSON array",
    request: { path: "/mutate", method: "POST", headers: json, body: "[1, 2, 3]" },
    status: 400,
    error: /expected an AdmissionReview object, got an array/,
  },
  {
    name: "a JSON string",
    request: { path: "/mutate", method: "POST", headers: json, body: '"review"' },
    status: 400,
    error: /expected an AdmissionReview object/,
  },
  {
    name: "JSON null",
    request: { path: "/mutate", method: "POST", headers: json, body: "null" },
    status: 400,
    error: /expected an AdmissionReview object, got null/,
  },
  {
    name: "a 10 000-deep array",
    request: {
      path: "/mutate",
      method: "POST",
      headers: json,
      body: `${"[".repeat(10_000)}${"]".repeat(10_000)}`,
    },
    status: 400,
    error: /nested deeper than \d+ levels/,
  },
  {
    name: "a 10 000-deep object inside the review",
    request: {
      path: "/mutate",
      method: "POST",
      headers: json,
      body: withRequest((request) => {
        request.object = "PLACEHOLDER";
      }).replace('"PLACEHOLDER"', `${'{"a":'.repeat(10_000)}1${"}".repeat(10_000)}`),
    },
    status: 400,
    error: /nested deeper/,
  },
  {
    name: "no request",
    request: {
      path: "/mutate",
      method: "POST",
      headers: json,
      body: JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview" }),
    },
    status: 400,
    error: /request to be an object, got nothing/,
  },
  {
    name: "no request.uid",
    request: {
      path: "/mutate",
      method: "POST",
      headers: json,
      body: withRequest((request) => {
        delete request.uid;
      }),
    },
    status: 400,
    error: /request\.uid/,
  },
  {
    name: "apiVersion v1beta1",
    request: {
      path: "/mutate",
      method: "POST",
      headers: json,
      body: JSON.stringify({ ...good(), apiVersion: "admission.k8s.io/v1beta1" }),
    },
    status: 400,
    error: /apiVersion admission\.k8s\.io\/v1, got "admission\.k8s\.io\/v1beta1"/,
  },
  {
    name: "kind other than AdmissionReview",
    request: {
      path: "/mutate",
      method: "POST",
      headers: json,
      body: JSON.stringify({ ...good(), kind: "Pod" }),
    },
    status: 400,
    error: /kind AdmissionReview, got "Pod"/,
  },
  {
    name: "dryRun that is not a boolean",
    request: {
      path: "/mutate",
      method: "POST",
      headers: json,
      body: withRequest((request) => {
        request.dryRun = "yes";
      }),
    },
    status: 400,
    error: /request\.dryRun/,
  },
  {
    name: "text/plain content type",
    request: { path: "/mutate", method: "POST", headers: { "content-type": "text/plain" }, body: "{}" },
    status: 415,
    error: /unsupported content type "text\/plain"; send application\/json/,
  },
  {
    name: "no content type",
    request: { path: "/mutate", method: "POST", body: JSON.stringify(good()) },
    status: 415,
    error: /content type/,
  },
  {
    name: "GET /mutate",
    request: { path: "/mutate", method: "GET" },
    status: 405,
    error: /method GET is not allowed on \/mutate; use POST/,
  },
  {
    name: "PUT /mutate",
    request: { path: "/mutate", method: "PUT", headers: json, body: JSON.stringify(good()) },
    status: 405,
    error: /method PUT is not allowed/,
  },
  {
    name: "a body over 7 MiB",
    request: {
      path: "/mutate",
      method: "POST",
      headers: json,
      body: withRequest((request) => {
        request.object = { padding: "x".repeat(7 * 1024 * 1024) };
      }),
    },
    status: 413,
    error: /exceeds the limit of 7340032 bytes/,
  },
  {
    name: "an unknown path",
    request: { path: "/validate", method: "POST", headers: json, body: "{}" },
    status: 404,
    error: /no such endpoint: POST \/validate/,
  },
];

describe("bad input on /mutate", () => {
  it.each(cases)("$name → $status with a reason", async ({ request, status, error }) => {
    const reply = await send({ ...request, port: server.port, ca, agent });
    expect(reply.status).toBe(status);
    expect(reply.headers["content-type"]).toMatch(/^application\/json/);
    const body = JSON.parse(reply.text) as { error?: unknown };
    expect(body.error).toMatch(error);
  });

  it("answers 405 with an Allow header", async () => {
    const reply = await send({ path: "/mutate", method: "GET", port: server.port, ca });
    expect(reply.headers.allow).toBe("POST");
  });

  it("keeps serving good requests afterwards, and never answered 5xx or logged an error", async () => {
    for (const { request } of cases) await send({ ...request, port: server.port, ca, agent });
    const reply = await postJson(server.port, ca, good(), agent);
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.text)).toMatchObject({ response: { uid: "good-uid", allowed: true } });
    expect(server.logs.filter((line) => line.level >= 50)).toEqual([]);
    const metrics = await server.registry.metrics();
    expect(metrics).toMatch(/^prepull_admission_bad_requests_total\{status="400"\} [1-9]/m);
    expect(metrics).toMatch(/^prepull_admission_bad_requests_total\{status="413"\} [1-9]/m);
    expect(metrics).not.toMatch(/status="5\d\d"/);
  });
});
