// Throwaway certificates for tests: a CA and serving certificates for 127.0.0.1/localhost, made
// with the openssl CLI in a temporary directory. EC P-256 keeps generation to a few milliseconds.
import { execFileSync } from "node:child_process";
import { randomBytes, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

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

export function makeTempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `prepull-${prefix}-`));
}

function openssl(args: string[]): void {
  execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

export function createCertificateAuthority(dir: string, name: string): CertificateAuthority {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  openssl([
    "req",
    "-x509",
    "-new",
    ...EC_KEY,
    "-keyout",
    keyFile,
    "-out",
    certFile,
    "-days",
    "2",
    "-subj",
    `/CN=${name}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  return { name, certFile, keyFile, certPem: readFileSync(certFile, "utf8") };
}

/** A serving certificate for 127.0.0.1 and localhost, signed by `ca`, written as `<name>.crt/.key`. */
export function issueServingCertificate(
  ca: CertificateAuthority,
  dir: string,
  name: string,
): ServingCertificate {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  const csrFile = join(dir, `${name}.csr`);
  const extFile = join(dir, `${name}.ext`);
  writeFileSync(extFile, "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  openssl(["req", "-new", ...EC_KEY, "-keyout", keyFile, "-out", csrFile, "-subj", `/CN=${name}`]);
  openssl([
    "x509",
    "-req",
    "-in",
    csrFile,
    "-CA",
    ca.certFile,
    "-CAkey",
    ca.keyFile,
    "-out",
    certFile,
    "-days",
    "2",
    "-set_serial",
    `0x${randomBytes(8).toString("hex")}`,
    "-extfile",
    extFile,
  ]);
  const certPem = readFileSync(certFile, "utf8");
  return {
    certFile,
    keyFile,
    certPem,
    keyPem: readFileSync(keyFile, "utf8"),
    fingerprint256: new X509Certificate(certPem).fingerprint256,
  };
}
