// Generated input through the whole app (built, never listening; fastify's inject): arbitrary JSON,
// arbitrary text, and the AdmissionReviews captured from the real apiserver mutated field by field.
// Whatever arrives, the answer is a well-formed allow or a 4xx with a reason; never a 5xx, never an
// error in the log, and nothing handed to the reconciler that should not be.
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import fastJsonPatch, { type Operation } from "fast-json-patch";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp } from "../../src/http/app.ts";
import type { App } from "../../src/http/fastify-app.ts";
import { readTlsMaterial } from "../../src/http/tls.ts";
import { createLogger } from "../../src/log.ts";
import { RecordingQueue } from "../../src/reconcile/queue.ts";
import { anyJsonValue, applyMutation, jsonPaths, mutationAt } from "../support/json-mutations.ts";
import { makeTempDir } from "../support/temp-dir.ts";
import type { LogRecord } from "../support/test-server.ts";
import { createCertificateAuthority, issueServingCertificate } from "../support/tls.ts";

const FIXTURES = join(import.meta.dirname, "../fixtures/admission-reviews");
const fixtures = readdirSync(FIXTURES)
  .filter((file) => file.endsWith(".json"))
  .sort()
  .map((file) => ({ file, review: JSON.parse(readFileSync(join(FIXTURES, file), "utf8")) as unknown }));

/**
 * Runs per property: each fixture has 150-250 fields, so one mutation per field on average with
 * three kinds of mutation; more runs found nothing more (1500 per property were tried) and cost
 * seconds of every unit run.
 */
const RUNS = 300;

let dir: string;
let app: App;
let queue: RecordingQueue;
const logs: LogRecord[] = [];

beforeAll(async () => {
  dir = makeTempDir("generated-input");
  const authority = await createCertificateAuthority(dir, "ca");
  const serving = await issueServingCertificate(authority, dir, "serving");
  const logger = createLogger("info", {
    write(line: string) {
      logs.push(JSON.parse(line) as LogRecord);
    },
  });
  queue = new RecordingQueue(1_000_000);
  const tls = readTlsMaterial({ certFile: serving.certFile, keyFile: serving.keyFile });
  app = buildApp({ registry: new Registry(), queue, logger, tls });
  await app.ready();
});

afterAll(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);

interface Sent {
  payload: string;
  contentType?: string;
}

/**
 * Post one body and hold the answer to the admission contract. `parsed` is what the body means as
 * JSON (undefined when it is not JSON), so the checks can say what must have happened.
 */
async function admitAndCheck(sent: Sent, parsed: unknown): Promise<void> {
  const queuedBefore = queue.received.length;
  const errorsBefore = logs.filter((line) => line.level >= 50).length;
  const reply = await app.inject({
    method: "POST",
    url: "/mutate",
    headers: { "content-type": sent.contentType ?? "application/json" },
    payload: sent.payload,
  });
  const queued = queue.received.slice(queuedBefore);
  expect(logs.filter((line) => line.level >= 50).length, "an error was logged").toBe(errorsBefore);
  expect(reply.headers["content-type"]).toMatch(/^application\/json/);
  const body: unknown = JSON.parse(reply.body);

  if (reply.statusCode !== 200) {
    expect(reply.statusCode).toBeGreaterThanOrEqual(400);
    expect(reply.statusCode).toBeLessThan(500);
    expect(body).toEqual({ error: expect.stringMatching(/\S/) });
    expect(queued).toEqual([]);
    return;
  }

  // Only an AdmissionReview with a uid to echo can be answered with one.
  expect(isObject(parsed)).toBe(true);
  const review = parsed as Json;
  expect(review.apiVersion).toBe("admission.k8s.io/v1");
  expect(review.kind).toBe("AdmissionReview");
  const request = review.request as Json;
  expect(isObject(request)).toBe(true);
  expect(typeof request.uid === "string" && request.uid !== "").toBe(true);

  expect(Object.keys(body as Json).sort()).toEqual(["apiVersion", "kind", "response"]);
  const { apiVersion, kind, response } = body as { apiVersion: unknown; kind: unknown; response: Json };
  expect(apiVersion).toBe("admission.k8s.io/v1");
  expect(kind).toBe("AdmissionReview");
  expect(response.uid).toBe(request.uid);
  expect(response.allowed).toBe(true);
  expect("patchType" in response).toBe("patch" in response);

  const object = request.object;
  const annotations = isObject(object) && isObject(object.metadata) ? object.metadata.annotations : undefined;
  const optedIn = isObject(annotations) && annotations.prepull === "true";
  const workload = isObject(request.kind) && isWorkloadKind(request.kind);
  const operation = request.operation;
  const mayAct =
    optedIn &&
    workload &&
    (operation === "CREATE" || operation === "UPDATE") &&
    (request.subResource === undefined || request.subResource === "");

  if (response.patch !== undefined) {
    expect(mayAct, "patched something that is not an opted-in workload CREATE/UPDATE").toBe(true);
    expect(response.patchType).toBe("JSONPatch");
    expect(response.patch).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
    const operations = JSON.parse(
      Buffer.from(response.patch as string, "base64").toString("utf8"),
    ) as Operation[];
    expect(Array.isArray(operations) && operations.length > 0).toBe(true);
    for (const op of operations) expect(op.path).toMatch(/^\/metadata(\/|$)/);
    // The apiserver applies the patch to the object it sent: it must apply cleanly and leave the
    // image-set annotation in place.
    const patched = fastJsonPatch.applyPatch(structuredClone(object), operations, true, false).newDocument;
    expect(
      (patched as { metadata: { annotations: Json } }).metadata.annotations["prepull.dev/images"],
    ).toMatch(/^sha256:[0-9a-f]{16}$/);
  }
  if (response.warnings !== undefined) {
    expect(Array.isArray(response.warnings)).toBe(true);
    for (const warning of response.warnings as unknown[]) {
      // Kubernetes asks for warnings under 120 characters; they travel in HTTP headers.
      expect(warning).toMatch(/^[\x20-\x7e]{1,119}$/);
    }
  }
  if (!mayAct || request.dryRun === true) expect(queued).toEqual([]);
  else expect(queued).toHaveLength(1);
}

function isWorkloadKind(gvk: Json): boolean {
  const key = `${String(gvk.group)}/${String(gvk.version)}/${String(gvk.kind)}`;
  return ["apps/v1/Deployment", "apps/v1/StatefulSet", "batch/v1/Job", "batch/v1/CronJob"].includes(key);
}

const asJson = (value: unknown): Sent => ({ payload: JSON.stringify(value) });

describe("POST /mutate under generated input", () => {
  it("the captured fixtures themselves are answered (the oracle agrees with the real thing)", async () => {
    expect(fixtures.map(({ file }) => file)).toEqual([
      "cronjob-create.json",
      "deployment-create-dry-run.json",
      "deployment-create-gpu.json",
      "deployment-create.json",
      "deployment-update.json",
      "job-create.json",
      "statefulset-create.json",
    ]);
    for (const { review } of fixtures) await admitAndCheck(asJson(review), review);
  });

  it("arbitrary JSON: a well-formed allow or a 4xx", async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (value) => admitAndCheck(asJson(value), value)),
      { numRuns: RUNS },
    );
  });

  it("arbitrary text and content types: a 4xx (or an allow when it happens to be a review)", async () => {
    const contentType = fc.oneof(
      fc.constant("application/json"),
      fc.constantFrom(
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/json;",
        "text/json",
      ),
      fc.string({ maxLength: 40 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: "binary", maxLength: 500 }), contentType, async (payload, type) => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(payload);
        } catch {
          parsed = undefined;
        }
        await admitAndCheck({ payload, contentType: type }, parsed);
      }),
      { numRuns: RUNS },
    );
  });

  it("review-shaped objects with arbitrary fields: a well-formed allow or a 4xx", async () => {
    const field = (common: fc.Arbitrary<unknown>) => fc.oneof(common, anyJsonValue);
    const review = fc.record(
      {
        apiVersion: field(fc.constant("admission.k8s.io/v1")),
        kind: field(fc.constant("AdmissionReview")),
        request: fc.record(
          {
            uid: field(fc.uuid()),
            kind: field(
              fc.record({
                group: field(fc.constantFrom("apps", "batch", "")),
                version: field(fc.constant("v1")),
                kind: field(fc.constantFrom("Deployment", "StatefulSet", "Job", "CronJob", "Pod")),
              }),
            ),
            operation: field(fc.constantFrom("CREATE", "UPDATE", "DELETE", "CONNECT")),
            subResource: field(fc.constantFrom("status", "scale", "")),
            name: anyJsonValue,
            namespace: anyJsonValue,
            dryRun: field(fc.boolean()),
            object: field(
              fc.record({
                metadata: field(fc.record({ annotations: field(fc.constant({ prepull: "true" })) })),
                spec: anyJsonValue,
              }),
            ),
          },
          { requiredKeys: [] },
        ),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(review, async (value) => admitAndCheck(asJson(value), value)),
      { numRuns: RUNS },
    );
  });

  describe.each(fixtures)("$file mutated field by field", ({ review }) => {
    const paths = jsonPaths(review);

    it("one mutation at any field: a well-formed allow or a 4xx", async () => {
      await fc.assert(
        fc.asyncProperty(mutationAt(paths), async (mutation) => {
          const mutated = applyMutation(review, mutation);
          await admitAndCheck(asJson(mutated), mutated);
        }),
        { numRuns: RUNS },
      );
    });

    it("several mutations at once: a well-formed allow or a 4xx", async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(mutationAt(paths), { minLength: 2, maxLength: 6 }), async (mutations) => {
          const mutated = mutations.reduce((document, mutation) => applyMutation(document, mutation), review);
          await admitAndCheck(asJson(mutated), mutated);
        }),
        { numRuns: RUNS / 3 },
      );
    });

    it("every field deleted in turn and set to null in turn (exhaustive, not sampled)", async () => {
      for (const path of paths) {
        for (const mutated of [
          applyMutation(review, { path, op: "delete" }),
          applyMutation(review, { path, op: "replace", value: null }),
        ]) {
          await admitAndCheck(asJson(mutated), mutated);
        }
      }
    });
  });
});
