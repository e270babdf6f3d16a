// The AdmissionReviews captured from a real apiserver (test/e2e/capture-fixtures.test.ts writes
// them to test/fixtures/admission-reviews/) replayed through the /mutate route with fastify's
// inject: the exact patch each one gets, and what each hands to the reconciler. The patch values
// are literals: prepull.dev/images is stored on workloads in clusters and must never change
// between releases for the same images.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { imageSetDigest } from "../../src/core/images.ts";
import { buildApp } from "../../src/http/app.ts";
import type { App } from "../../src/http/fastify-app.ts";
import { readTlsMaterial } from "../../src/http/tls.ts";
import { createLogger } from "../../src/log.ts";
import { RecordingQueue } from "../../src/reconcile/queue.ts";
import { makeTempDir } from "../support/temp-dir.ts";
import { createCertificateAuthority, issueServingCertificate } from "../support/tls.ts";

const FIXTURES = join(import.meta.dirname, "../fixtures/admission-reviews");
/** The namespace the capture ran in; every fixture's workload lives there. */
const NAMESPACE = "fixtures-9dd4c11f";

interface Case {
  file: string;
  uid: string;
  /** The images the workload runs, normalised: what the digest below is of. */
  images: string[];
  digest: string;
  /** What the reconciler is handed; none for a dry run (sideEffects: NoneOnDryRun). */
  queued: { kind: string; namespace: string; name: string; operation: string }[];
}

const cases: Case[] = [
  {
    file: "cronjob-create.json",
    uid: "46b9af75-4df6-49c8-a37f-02334df67bd7",
    images: ["docker.io/library/busybox:1.36"],
    digest: "sha256:abec6db3151a683a",
    queued: [{ kind: "CronJob", namespace: NAMESPACE, name: "nightly", operation: "CREATE" }],
  },
  {
    file: "deployment-create-dry-run.json",
    uid: "58a1544d-3338-45a9-8c64-54f90557fe0b",
    images: ["docker.io/library/nginx:1.27"],
    digest: "sha256:3c13c7425f2468d9",
    queued: [],
  },
  {
    file: "deployment-create-gpu.json",
    uid: "4c207f47-aa96-4051-a23d-7574fa1e1dd0",
    images: ["nvcr.io/nvidia/pytorch:24.08-py3"],
    digest: "sha256:f578536497ce54cf",
    queued: [{ kind: "Deployment", namespace: NAMESPACE, name: "trainer", operation: "CREATE" }],
  },
  {
    file: "deployment-create.json",
    uid: "fc9380e1-a3d4-49ab-91a8-d067f60cc6ba",
    images: ["docker.io/library/nginx:1.27"],
    digest: "sha256:3c13c7425f2468d9",
    queued: [{ kind: "Deployment", namespace: NAMESPACE, name: "web", operation: "CREATE" }],
  },
  {
    file: "deployment-update.json",
    uid: "ff9d562f-0422-4ede-8c68-2f6f3be968d3",
    images: ["docker.io/library/nginx:1.28"],
    digest: "sha256:56af7b441bcb01cc",
    queued: [{ kind: "Deployment", namespace: NAMESPACE, name: "web", operation: "UPDATE" }],
  },
  {
    file: "job-create.json",
    uid: "ca49f108-a5a3-43b6-9b8c-9966d23f641f",
    images: ["docker.io/library/python:3.12-slim"],
    digest: "sha256:0b3cd3dd54254705",
    queued: [{ kind: "Job", namespace: NAMESPACE, name: "etl", operation: "CREATE" }],
  },
  {
    file: "statefulset-create.json",
    uid: "6ad31779-f07d-44ab-9231-d190b5e9753a",
    images: ["docker.io/library/postgres:16", `ghcr.io/example/migrate@sha256:${"a".repeat(64)}`],
    digest: "sha256:761aae90a0d40a35",
    queued: [{ kind: "StatefulSet", namespace: NAMESPACE, name: "db", operation: "CREATE" }],
  },
];

let app: App;
let queue: RecordingQueue;

beforeAll(async () => {
  const dir = makeTempDir("captured-reviews");
  const authority = await createCertificateAuthority(dir, "ca");
  const serving = await issueServingCertificate(authority, dir, "serving");
  queue = new RecordingQueue();
  const tls = readTlsMaterial({ certFile: serving.certFile, keyFile: serving.keyFile });
  app = buildApp({ registry: new Registry(), queue, logger: createLogger("silent"), tls });
  await app.ready();
});

afterAll(() => app.close());

describe("captured AdmissionReviews through POST /mutate", () => {
  it("covers every captured review", () => {
    expect(
      readdirSync(FIXTURES)
        .filter((file) => file.endsWith(".json"))
        .sort(),
    ).toEqual(cases.map(({ file }) => file));
  });

  it.each(cases)("$file: the exact patch, and what the reconciler is handed", async (expected) => {
    const review = JSON.parse(readFileSync(join(FIXTURES, expected.file), "utf8"));
    expect(review.request.uid).toBe(expected.uid);
    expect(imageSetDigest(expected.images)).toBe(expected.digest);
    queue.received.length = 0;

    const reply = await app.inject({
      method: "POST",
      url: "/mutate",
      headers: { "content-type": "application/json" },
      payload: JSON.stringify(review),
    });

    expect(reply.statusCode).toBe(200);
    const { patch, ...response } = reply.json().response;
    expect(response).toEqual({ uid: expected.uid, allowed: true, patchType: "JSONPatch" });
    expect(JSON.parse(Buffer.from(patch, "base64").toString("utf8"))).toEqual([
      { op: "add", path: "/metadata/annotations/prepull.dev~1images", value: expected.digest },
    ]);
    expect(queue.received).toEqual(expected.queued);
  });
});
