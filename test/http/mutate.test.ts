// The admission contract over real HTTPS on loopback.
import type { Agent } from "node:https";
import { connect } from "node:tls";
import fastJsonPatch, { type Operation } from "fast-json-patch";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JsonObject } from "../../src/core/workload.ts";
import { postJson, send } from "../support/https-client.ts";
import { admissionReview, deployment } from "../support/reviews.ts";
import { startTrustedTestServer, type TestServer, type TrustedTestServer } from "../support/test-server.ts";

interface ReviewReply {
  apiVersion: string;
  kind: string;
  response: { uid: string; allowed: boolean; patchType?: string; patch?: string; warnings?: string[] };
}

let trusted: TrustedTestServer;
let server: TestServer;
let ca: string;
let agent: Agent;

beforeAll(async () => {
  trusted = await startTrustedTestServer("mutate");
  ({ server, ca, agent } = trusted);
});

afterAll(() => trusted.close());

async function admit(review: JsonObject): Promise<ReviewReply> {
  const reply = await postJson(server.port, ca, review, agent);
  expect(reply.status).toBe(200);
  expect(reply.headers["content-type"]).toMatch(/^application\/json/);
  return JSON.parse(reply.text) as ReviewReply;
}

function decodePatch(patch: string): Operation[] {
  const operations: unknown = JSON.parse(Buffer.from(patch, "base64").toString("utf8"));
  expect(Array.isArray(operations)).toBe(true);
  return operations as Operation[];
}

function annotationsOf(object: JsonObject): Record<string, string> {
  return (object.metadata as { annotations: Record<string, string> }).annotations;
}

describe("POST /mutate", () => {
  it("allows an opted-in Deployment with an annotation-only patch that applies cleanly", async () => {
    server.queue.received.length = 0;
    const object = deployment("web", "shop");
    const review = await admit(admissionReview(object, { uid: "uid-create-1" }));

    expect(review.apiVersion).toBe("admission.k8s.io/v1");
    expect(review.kind).toBe("AdmissionReview");
    expect(review.response.uid).toBe("uid-create-1");
    expect(review.response.allowed).toBe(true);
    expect(review.response.patchType).toBe("JSONPatch");
    const operations = decodePatch(review.response.patch ?? "");
    for (const operation of operations) expect(operation.path).toMatch(/^\/metadata\/annotations/);

    const patched = fastJsonPatch.applyPatch(structuredClone(object), operations, true, false).newDocument;
    expect(annotationsOf(patched).prepull).toBe("true");
    // A literal: the digest is stored on workloads in clusters and must never change between
    // releases. It is imageSetDigest of migrate:2.4.1, app:2.4.1 (registry.example.com/shop),
    // nvcr.io/nvidia/pytorch:24.05-py3 and docker.io/envoyproxy/envoy:v1.30.1.
    expect(annotationsOf(patched)["prepull.dev/images"]).toBe("sha256:3330377f6e319b0f");
    expect(patched.spec).toEqual(object.spec);

    expect(server.queue.received).toEqual([
      { kind: "Deployment", namespace: "shop", name: "web", operation: "CREATE" },
    ]);
  });

  it("answers a re-admitted patched object without patch or patchType, and still hands it over", async () => {
    const object = deployment("web", "shop");
    const first = await admit(admissionReview(object, { uid: "uid-a" }));
    const patched = fastJsonPatch.applyPatch(
      structuredClone(object),
      decodePatch(first.response.patch ?? ""),
      true,
      false,
    ).newDocument;
    server.queue.received.length = 0;

    // The UPDATE scales it: a change prepull did not make, so it is handed over.
    const before = structuredClone(patched) as { spec: JsonObject };
    before.spec.replicas = 9;
    const again = await admit(
      admissionReview(patched, { uid: "uid-b", operation: "UPDATE", oldObject: before }),
    );
    expect(again.response).toEqual({ uid: "uid-b", allowed: true });
    expect(server.queue.received).toEqual([
      { kind: "Deployment", namespace: "shop", name: "web", operation: "UPDATE" },
    ]);
  });

  it("hands over nothing for prepull's own status write coming back as an UPDATE", async () => {
    const object = deployment("status-only", "shop");
    const first = await admit(admissionReview(object, { uid: "uid-c" }));
    const patched = fastJsonPatch.applyPatch(
      structuredClone(object),
      decodePatch(first.response.patch ?? ""),
      true,
      false,
    ).newDocument;
    const withStatus = structuredClone(patched) as { metadata: { annotations: Record<string, string> } };
    withStatus.metadata.annotations["prepull.dev/status"] = "2/2 nodes ready";
    server.queue.received.length = 0;
    const again = await admit(
      admissionReview(withStatus, { uid: "uid-d", operation: "UPDATE", oldObject: patched }),
    );
    expect(again.response).toEqual({ uid: "uid-d", allowed: true });
    expect(server.queue.received).toEqual([]);
  });

  it("gives a dry run the same response and queues nothing", async () => {
    const object = deployment("dry", "shop");
    server.queue.received.length = 0;
    const dry = await admit(admissionReview(object, { uid: "same-uid", dryRun: true }));
    expect(server.queue.received).toEqual([]);
    const wet = await admit(admissionReview(object, { uid: "same-uid", dryRun: false }));
    expect(dry).toEqual(wet);
    expect(server.queue.received).toHaveLength(1);
  });

  it("allows an object that did not opt in, without patch, patchType or queueing", async () => {
    const object = deployment("plain", "shop");
    annotationsOf(object).prepull = "false";
    server.queue.received.length = 0;
    const review = await admit(admissionReview(object, { uid: "uid-plain" }));
    expect(review.response).toEqual({ uid: "uid-plain", allowed: true });
    expect(server.queue.received).toEqual([]);
  });

  it("returns warnings for an untagged image and counts them", async () => {
    const object = deployment("latest", "shop");
    const spec = (object.spec as { template: { spec: { containers: { image: string }[] } } }).template.spec;
    const first = spec.containers[0];
    if (first === undefined) throw new Error("fixture has containers");
    first.image = "nginx";
    const review = await admit(admissionReview(object, { uid: "uid-latest" }));
    expect(review.response.warnings?.some((warning) => warning.includes("latest"))).toBe(true);
    for (const warning of review.response.warnings ?? []) expect(warning.length).toBeLessThan(120);
    expect(await server.registry.metrics()).toMatch(/^prepull_admission_warnings_total [1-9]/m);
  });

  it("logs one structured line per admission without the object", async () => {
    const object = deployment("logged", "audit");
    await admit(admissionReview(object, { uid: "uid-logged", dryRun: true }));
    const lines = server.logs.filter((line) => line.uid === "uid-logged");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 30,
      msg: "admission",
      kind: "Deployment",
      namespace: "audit",
      name: "logged",
      operation: "CREATE",
      outcome: "patched",
      dryRun: true,
    });
    expect(typeof lines[0]?.durationMs).toBe("number");
    expect(JSON.stringify(lines[0])).not.toContain("pytorch");
  });
});

describe("operational endpoints", () => {
  it("serves /healthz and /readyz", async () => {
    expect((await send({ port: server.port, ca, path: "/healthz", agent })).status).toBe(200);
    const ready = await send({ port: server.port, ca, path: "/readyz", agent });
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.text)).toEqual({ status: "ready" });
  });

  it("counts admissions by kind, operation and outcome", async () => {
    await admit(admissionReview(deployment("counted", "shop"), { uid: "uid-counted" }));
    const text = await server.registry.metrics();
    expect(text).toMatch(
      /^prepull_admission_requests_total\{kind="Deployment",operation="CREATE",outcome="patched"\} [1-9]/m,
    );
    expect(text).toMatch(/^prepull_admission_duration_seconds_bucket\{le="0.0001"\} \d+/m);
    expect(text).toMatch(/^prepull_reconcile_queue_depth \d+/m);
  });

  it("does not serve /metrics on the admission port (it has its own)", async () => {
    expect((await send({ port: server.port, ca, path: "/metrics", agent })).status).toBe(404);
  });

  /** A review anyone reaching /mutate could send: made-up kind and operation. */
  function forged(kind: string, operation: string, uid: string): JsonObject {
    const review = admissionReview(deployment("forged", "shop"), { uid, operation });
    const request = review.request as JsonObject;
    request.kind = { group: "apps", version: "v1", kind };
    return review;
  }

  it("forged kinds and operations leave the number of admission series unchanged", async () => {
    const series = async () =>
      (await server.registry.metrics())
        .split("\n")
        .filter((line) => line.startsWith("prepull_admission_requests_total{")).length;
    // Every label value a forged review can reach, once, so only new values could add series.
    for (const [kind, operation] of [
      ["Forged", "CREATE"],
      ["Deployment", "FORGED"],
      ["Forged", "FORGED"],
    ]) {
      await admit(forged(kind ?? "", operation ?? "", `uid-${kind}-${operation}`));
    }
    const before = await series();
    for (let i = 0; i < 200; i++) {
      await admit(forged(`Kind${i}`, `OP${i}`, `uid-forged-${i}`));
    }
    expect(await series()).toBe(before);
    expect(await server.registry.metrics()).toMatch(
      /^prepull_admission_requests_total\{kind="other",operation="other",outcome="ignored"\} 20[1-9]/m,
    );
  });

  it("negotiates HTTP/1.1 even when the client offers h2", async () => {
    const protocol = await new Promise<string | false | null>((resolve, reject) => {
      const socket = connect(
        {
          host: "127.0.0.1",
          port: server.port,
          ca,
          servername: "localhost",
          ALPNProtocols: ["h2", "http/1.1"],
        },
        () => {
          resolve(socket.alpnProtocol);
          socket.end();
        },
      );
      socket.on("error", reject);
    });
    expect(protocol).toBe("http/1.1");
  });

  it("refuses TLS below 1.2, and accepts the same client at 1.2", async () => {
    const handshake = (maxVersion: "TLSv1.1" | "TLSv1.2") =>
      new Promise<string>((resolve) => {
        const socket = connect(
          {
            host: "127.0.0.1",
            port: server.port,
            ca,
            maxVersion,
            minVersion: "TLSv1",
            ciphers: "DEFAULT@SECLEVEL=0",
          },
          () => {
            resolve(socket.getProtocol() ?? "unknown");
            socket.end();
          },
        );
        socket.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      });
    // The server's protocol_version alert, not a client that never offered the old version.
    expect(await handshake("TLSv1.1")).toBe("ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION");
    expect(await handshake("TLSv1.2")).toBe("TLSv1.2");
  });
});
