import { execFileSync } from "node:child_process";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { repoRoot } from "../support/kube-bin.ts";

// certs/make-dev-certs.sh: the certificates for local development and for installing without
// cert-manager. The apiserver verifies <service>.<namespace>.svc against the caBundle.
const out = mkdtempSync(join(tmpdir(), "prepull-dev-certs-"));
const script = join(repoRoot, "certs/make-dev-certs.sh");
const read = (name: string): string => readFileSync(join(out, name), "utf8");

afterAll(() => rmSync(out, { recursive: true, force: true }));

function run(...args: string[]): void {
  execFileSync("bash", [script, "--out", out, ...args], { stdio: "pipe" });
}

describe("certs/make-dev-certs.sh", () => {
  it("makes a CA and a serving certificate it signed, for the Service's names and loopback", () => {
    run("--service", "hooks", "--namespace", "infra");
    const ca = new X509Certificate(read("ca.crt"));
    const serving = new X509Certificate(read("tls.crt"));
    expect(ca.ca).toBe(true);
    expect(serving.ca).toBe(false);
    expect(serving.verify(ca.publicKey)).toBe(true);
    expect(serving.checkIssued(ca)).toBe(true);
    expect(serving.subjectAltName?.split(", ")).toEqual(
      expect.arrayContaining([
        "DNS:hooks.infra.svc",
        "DNS:hooks.infra.svc.cluster.local",
        "DNS:localhost",
        "IP Address:127.0.0.1",
      ]),
    );
    expect(serving.keyUsage).toContain("1.3.6.1.5.5.7.3.1"); // serverAuth
    // The key is the certificate's, and only its owner can read it.
    expect(createPrivateKey(read("tls.key")).asymmetricKeyType).toBe("ec");
    expect(serving.checkPrivateKey(createPrivateKey(read("tls.key")))).toBe(true);
    expect(statSync(join(out, "tls.key")).mode & 0o077).toBe(0);
  });

  it("keeps the CA across runs (a registered caBundle stays valid) and issues a new serving key", () => {
    const caBefore = read("ca.crt");
    const keyBefore = read("tls.key");
    run();
    expect(read("ca.crt")).toBe(caBefore);
    expect(read("tls.key")).not.toBe(keyBefore);
    expect(new X509Certificate(read("tls.crt")).checkIssued(new X509Certificate(caBefore))).toBe(true);
  });

  it("rejects unknown arguments", () => {
    expect(() => run("--bogus")).toThrow(/unknown argument: --bogus/);
  });
});
