// A throwaway CA and a serving certificate for 127.0.0.1, made by openssl in a temporary
// directory: what the apiserver verifies prepull against (caBundle) in a test.
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type CertificateFiles,
  createCertificateAuthority,
  issueLoopbackServingCertificate,
} from "../../../scripts/cluster/pki.ts";

export interface ServingTls {
  dir: string;
  ca: CertificateFiles;
  serving: CertificateFiles;
  /** The CA certificate, base64-encoded PEM: a webhook's clientConfig.caBundle. */
  caBundle: string;
}

export async function throwawayServingTls(): Promise<ServingTls> {
  const dir = await mkdtemp(join(tmpdir(), "prepull-e2e-tls-"));
  const ca = await createCertificateAuthority(dir, "ca", "prepull-e2e-webhook-ca");
  const serving = await issueLoopbackServingCertificate(ca, dir, "serving", "prepull-e2e");
  return { dir, ca, serving, caBundle: (await readFile(ca.cert)).toString("base64") };
}
