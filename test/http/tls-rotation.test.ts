// Certificate rotation the way a mounted Secret does it (a new timestamped directory, then an
// atomic swap of the `..data` symlink), while a keep-alive client keeps sending admissions.
import { readFileSync } from "node:fs";
import { Agent } from "node:https";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type HttpsReply, postJson, presentedFingerprint, send, waitFor } from "../support/https-client.ts";
import { admissionReview, deployment } from "../support/reviews.ts";
import { SecretVolume } from "../support/secret-volume.ts";
import { makeTempDir } from "../support/temp-dir.ts";
import { startTestServer, type TestServer } from "../support/test-server.ts";
import {
  createCertificateAuthority,
  issueServingCertificate,
  type ServingCertificate,
} from "../support/tls.ts";

let server: TestServer;
let volume: SecretVolume;
let first: ServingCertificate;
let second: ServingCertificate;
let cas: string[];
let secondCa: string;

beforeAll(async () => {
  const dir = makeTempDir("rotation");
  const ca1 = await createCertificateAuthority(dir, "ca1");
  const ca2 = await createCertificateAuthority(dir, "ca2");
  first = await issueServingCertificate(ca1, dir, "first");
  second = await issueServingCertificate(ca2, dir, "second");
  cas = [ca1.certPem, ca2.certPem];
  secondCa = ca2.certPem;
  volume = new SecretVolume(join(dir, "secret"));
  volume.write(first.certPem, first.keyPem);
  // A poll interval of an hour: only the directory watch can make this test pass in time.
  server = await startTestServer({
    tlsFiles: { certFile: volume.certFile, keyFile: volume.keyFile },
    tlsPollIntervalMs: 3_600_000,
  });
});

afterAll(async () => {
  await server.close();
});

describe("certificate rotation", () => {
  it("swaps to a new certificate with zero failed requests and without dropping the connection", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const replies: HttpsReply[] = [];
    const failures: unknown[] = [];
    let stop = false;
    const sender = (async () => {
      let n = 0;
      while (!stop) {
        n++;
        const review = admissionReview(deployment(`web-${n}`), { uid: `rotation-${n}` });
        try {
          replies.push(await postJson(server.port, cas, review, agent));
        } catch (error) {
          failures.push(error);
        }
      }
    })();
    const sentAtLeast = (count: number) => waitFor(`${count} requests`, () => replies.length >= count);

    try {
      await sentAtLeast(10);
      expect(await presentedFingerprint(server.port, cas)).toBe(first.fingerprint256);

      // A broken pair (new certificate, old key) is refused; the old certificate stays in service.
      volume.write(second.certPem, first.keyPem);
      await waitFor("the bad pair to be reported", () =>
        server.logs.some((line) => line.level === 50 && String(line.err).includes("do not load")),
      );
      expect(await presentedFingerprint(server.port, cas)).toBe(first.fingerprint256);

      volume.write(second.certPem, second.keyPem);
      await waitFor(
        "new connections to present the new certificate",
        async () => (await presentedFingerprint(server.port, cas)) === second.fingerprint256,
      );
      const afterRotation = replies.length;
      await sentAtLeast(afterRotation + 10);
    } finally {
      stop = true;
      await sender;
      agent.destroy();
    }

    expect(failures).toEqual([]);
    expect(replies.every((reply) => reply.status === 200)).toBe(true);
    // One keep-alive connection carried every request, before and after both swaps.
    expect(new Set(replies.map((reply) => reply.localPort)).size).toBe(1);
    expect(server.logs.filter((line) => line.msg === "TLS certificate reloaded")).toHaveLength(1);
  });

  it("serves a client that trusts only the new CA", async () => {
    const reply = await send({ port: server.port, ca: secondCa, path: "/readyz" });
    expect(reply.status).toBe(200);
    expect(reply.peerFingerprint256).toBe(second.fingerprint256);
  });

  it("resolved the symlinks to the new files", () => {
    expect(readFileSync(volume.certFile, "utf8")).toBe(second.certPem);
  });
});
