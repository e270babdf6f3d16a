// A throwaway CA and a loopback serving certificate for every server in the bench, plus the
// tls.crt/tls.key directory layout controller-runtime's webhook server reads.
import { copyFile, mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { createCertificateAuthority, issueLoopbackServingCertificate } from "../../scripts/cluster/pki.ts";

export interface BenchCertificates {
  caFile: string;
  caPem: string;
  certFile: string;
  keyFile: string;
  /** A directory holding tls.crt and tls.key (controller-runtime's default names). */
  certDir: string;
}

export async function benchCertificates(dir: string): Promise<BenchCertificates> {
  const ca = await createCertificateAuthority(dir, "bench-ca", "prepull bench CA");
  const serving = await issueLoopbackServingCertificate(ca, dir, "serving");
  const certDir = join(dir, "certdir");
  await mkdir(certDir, { recursive: true });
  await copyFile(serving.cert, join(certDir, "tls.crt"));
  await copyFile(serving.key, join(certDir, "tls.key"));
  return {
    caFile: ca.cert,
    caPem: await readFile(ca.cert, "utf8"),
    certFile: serving.cert,
    keyFile: serving.key,
    certDir,
  };
}
