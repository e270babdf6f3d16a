// Throwaway certificates for tests: a CA and serving certificates for 127.0.0.1/localhost in a
// temporary directory, made by the plane's own openssl helpers (scripts/cluster/pki.ts) and read
// back as PEM, since the HTTPS tests compare certificates and pin CAs.
import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import {
  createCertificateAuthority as createCa,
  issueLoopbackServingCertificate,
} from "../../scripts/cluster/pki.ts";

export interface CertificateAuthority {
  name: string;
  certFile: string;
  keyFile: string;
  certPem: string;
}

export interface ServingCertificate {
  certFile: string;
  keyFile: string;
  certPem: string;
  keyPem: string;
  /** As node reports it on a peer certificate (`fingerprint256`). */
  fingerprint256: string;
}

export async function createCertificateAuthority(dir: string, name: string): Promise<CertificateAuthority> {
  const files = await createCa(dir, name, name);
  return { name, certFile: files.cert, keyFile: files.key, certPem: await readFile(files.cert, "utf8") };
}

/** A serving certificate for 127.0.0.1 and localhost, signed by `ca`, written as `<name>.crt/.key`. */
export async function issueServingCertificate(
  ca: CertificateAuthority,
  dir: string,
  name: string,
): Promise<ServingCertificate> {
  const files = await issueLoopbackServingCertificate({ cert: ca.certFile, key: ca.keyFile }, dir, name);
  const certPem = await readFile(files.cert, "utf8");
  return {
    certFile: files.cert,
    keyFile: files.key,
    certPem,
    keyPem: await readFile(files.key, "utf8"),
    fingerprint256: new X509Certificate(certPem).fingerprint256,
  };
}
