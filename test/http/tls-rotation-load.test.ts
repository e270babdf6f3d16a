// Certificate rotation every few seconds under sustained load: keep-alive clients (as the
// apiserver keeps its webhook connections) and clients opening a new TLS connection per request
// (so handshakes land in the middle of each `..data` swap) send admissions without pause while the
// Secret volume is rotated five times. Not one request may fail, and every new certificate must be
// the one served after its swap. Loopback only.
import { Agent } from "node:https";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { recordResult } from "../../scripts/faults/results.ts";
import { type HttpsReply, postJson, presentedFingerprint, waitFor } from "../support/https-client.ts";
import { admissionReview, deployment } from "../support/reviews.ts";
import { SecretVolume } from "../support/secret-volume.ts";
import { makeTempDir } from "../support/temp-dir.ts";
import { startTestServer, type TestServer } from "../support/test-server.ts";
import {
  createCertificateAuthority,
  issueServingCertificate,
  type ServingCertificate,
} from "../support/tls.ts";

const ROTATIONS = 5;
const KEEP_ALIVE_CLIENTS = 4;
const NEW_CONNECTION_CLIENTS = 2;

let server: TestServer;
let volume: SecretVolume;
let certificates: ServingCertificate[];
let ca: string;

beforeAll(async () => {
  const dir = makeTempDir("rotation-load");
  // cert-manager's CA issuer keeps the CA and renews the leaf with a new key: clients trust the CA.
  const authority = await createCertificateAuthority(dir, "ca");
  ca = authority.certPem;
  certificates = [];
  for (let i = 0; i <= ROTATIONS; i++)
    certificates.push(await issueServingCertificate(authority, dir, `serving-${i}`));
  volume = new SecretVolume(join(dir, "secret"));
  const [initial] = certificates;
  if (initial === undefined) throw new Error("no certificate");
  volume.write(initial.certPem, initial.keyPem);
  server = await startTestServer({ tlsFiles: { certFile: volume.certFile, keyFile: volume.keyFile } });
});

afterAll(async () => {
  await server?.close();
});

describe("certificate rotation under sustained load", () => {
  it(`${ROTATIONS} rotations, ${KEEP_ALIVE_CLIENTS} keep-alive and ${NEW_CONNECTION_CLIENTS} new-connection clients: 0 failed requests`, async () => {
    const replies: HttpsReply[] = [];
    const failures: unknown[] = [];
    let stop = false;
    const client = async (id: string, agent: Agent | undefined) => {
      for (let n = 1; !stop; n++) {
        const review = admissionReview(deployment(`web-${id}-${n}`), { uid: `rotation-${id}-${n}` });
        try {
          replies.push(await postJson(server.port, ca, review, agent));
        } catch (error) {
          failures.push(error);
        }
      }
    };
    const agents = Array.from(
      { length: KEEP_ALIVE_CLIENTS },
      () => new Agent({ keepAlive: true, maxSockets: 1 }),
    );
    const clients = [
      ...agents.map((agent, i) => client(`k${i}`, agent)),
      ...Array.from({ length: NEW_CONNECTION_CLIENTS }, (_, i) => client(`n${i}`, undefined)),
    ];
    const sentAtLeast = (count: number) =>
      waitFor(`${count} requests`, () => replies.length + failures.length >= count, 60_000);

    const started = performance.now();
    const swapToServed: number[] = [];
    try {
      await sentAtLeast(50);
      for (let i = 1; i <= ROTATIONS; i++) {
        const next = certificates[i];
        if (next === undefined) throw new Error(`no certificate ${i}`);
        const swappedAt = performance.now();
        volume.write(next.certPem, next.keyPem);
        await waitFor(
          `certificate ${i} to be served`,
          async () => (await presentedFingerprint(server.port, ca)) === next.fingerprint256,
          30_000,
        );
        swapToServed.push(Math.round(performance.now() - swappedAt));
        // Load keeps running across and after each swap before the next one.
        await sentAtLeast(replies.length + failures.length + 100);
      }
    } finally {
      stop = true;
      await Promise.all(clients);
      for (const agent of agents) agent.destroy();
    }

    expect(failures).toEqual([]);
    expect(replies.filter((reply) => reply.status !== 200)).toEqual([]);
    // New connections saw every certificate, in order; keep-alive connections were never dropped.
    const served = new Set(replies.map((reply) => reply.peerFingerprint256));
    for (const certificate of certificates) expect(served.has(certificate.fingerprint256)).toBe(true);
    expect(server.logs.filter((line) => line.msg === "TLS certificate reloaded")).toHaveLength(ROTATIONS);
    expect(server.logs.filter((line) => line.level >= 50)).toEqual([]);
    await recordResult({
      fault: "cert-rotation-under-load",
      convergeMs: Math.max(...swapToServed),
      lost: [],
      detail: {
        rotations: ROTATIONS,
        requests: replies.length,
        failed: failures.length,
        seconds: Math.round((performance.now() - started) / 1000),
        swapToServedMs: swapToServed.join(","),
      },
    });
  });
});
