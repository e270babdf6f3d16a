// Certificates through the `openssl` CLI (present wherever Kubernetes tooling is; no npm crypto
// dependency): CAs for tests and the demo, client certificates whose subject is the Kubernetes
// identity (CN = user, O = group) and serving certificates with IP and DNS SANs, issued from
// kwokctl's CA for the plane's extra identities (the real node's kubelet, audited replicas).
// Keys are ECDSA P-256 (fast to make).
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export interface CertificateFiles {
  cert: string;
  key: string;
}

async function openssl(args: string[]): Promise<void> {
  try {
    await execFileAsync("openssl", args);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? "";
    throw new Error(`openssl ${args[0]} failed: ${stderr.trim() || String(error)}`);
  }
}

function distinguishedName(subject: { commonName: string; organizations?: readonly string[] }): string {
  const organizations = (subject.organizations ?? []).map((o) => `/O=${o}`).join("");
  return `${organizations}/CN=${subject.commonName}`;
}

export async function createCertificateAuthority(
  dir: string,
  name: string,
  commonName: string,
): Promise<CertificateFiles> {
  await mkdir(dir, { recursive: true });
  const files = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  const extensions = join(dir, `${name}.ext`);
  await writeFile(
    extensions,
    [
      // `req` insists on a distinguished_name section even when -subj gives the name.
      "[req]",
      "distinguished_name = dn",
      "[dn]",
      "[v3]",
      "basicConstraints = critical, CA:TRUE",
      "keyUsage = critical, keyCertSign, cRLSign, digitalSignature",
      "subjectKeyIdentifier = hash",
      "",
    ].join("\n"),
  );
  await openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", files.key]);
  await openssl([
    "req",
    "-new",
    "-x509",
    "-key",
    files.key,
    "-subj",
    `/CN=${commonName}`,
    "-days",
    "3650",
    "-config",
    extensions,
    "-extensions",
    "v3",
    "-out",
    files.cert,
  ]);
  await rm(extensions);
  return files;
}

export interface LeafRequest {
  ca: CertificateFiles;
  dir: string;
  name: string;
  commonName: string;
  organizations?: readonly string[];
  usage: "client" | "server" | "client-and-server";
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
}

export async function issueCertificate(request: LeafRequest): Promise<CertificateFiles> {
  await mkdir(request.dir, { recursive: true });
  const files = {
    cert: join(request.dir, `${request.name}.crt`),
    key: join(request.dir, `${request.name}.key`),
  };
  const csr = join(request.dir, `${request.name}.csr`);
  const extensions = join(request.dir, `${request.name}.ext`);
  const extendedUsage = {
    client: "clientAuth",
    server: "serverAuth",
    "client-and-server": "serverAuth, clientAuth",
  }[request.usage];
  const altNames = [
    ...(request.dnsNames ?? []).map((name) => `DNS:${name}`),
    ...(request.ipAddresses ?? []).map((ip) => `IP:${ip}`),
  ];
  await writeFile(
    extensions,
    [
      "[v3]",
      "basicConstraints = critical, CA:FALSE",
      "keyUsage = critical, digitalSignature, keyEncipherment",
      `extendedKeyUsage = ${extendedUsage}`,
      "authorityKeyIdentifier = keyid",
      ...(altNames.length > 0 ? [`subjectAltName = ${altNames.join(", ")}`] : []),
      "",
    ].join("\n"),
  );
  await openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", files.key]);
  await openssl(["req", "-new", "-key", files.key, "-subj", distinguishedName(request), "-out", csr]);
  await openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    request.ca.cert,
    "-CAkey",
    request.ca.key,
    "-set_serial",
    `0x${randomBytes(16).toString("hex")}`,
    "-days",
    "825",
    "-extfile",
    extensions,
    "-extensions",
    "v3",
    "-out",
    files.cert,
  ]);
  await rm(csr);
  await rm(extensions);
  return files;
}

/** A serving certificate for 127.0.0.1 and localhost: prepull on loopback, as the demo and tests run it. */
export function issueLoopbackServingCertificate(
  ca: CertificateFiles,
  dir: string,
  name: string,
  commonName: string = name,
): Promise<CertificateFiles> {
  return issueCertificate({
    ca,
    dir,
    name,
    commonName,
    usage: "server",
    ipAddresses: ["127.0.0.1"],
    dnsNames: ["localhost"],
  });
}
