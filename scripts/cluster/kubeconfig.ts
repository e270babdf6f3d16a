// Kubeconfig files with the certificates embedded, so a file stays usable when copied. JSON is
// valid YAML, and every client we use (client-go, kubectl, kwok, @kubernetes/client-node) reads it.
import { readFile, writeFile } from "node:fs/promises";
import type { CertificateFiles } from "./pki.ts";

export interface KubeconfigRequest {
  path: string;
  server: string;
  caCert: string;
  client: CertificateFiles;
  userName: string;
  clusterName?: string;
}

async function base64Of(path: string): Promise<string> {
  return (await readFile(path)).toString("base64");
}

export async function writeKubeconfig(request: KubeconfigRequest): Promise<void> {
  const cluster = request.clusterName ?? "prepull";
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: cluster,
        cluster: { server: request.server, "certificate-authority-data": await base64Of(request.caCert) },
      },
    ],
    users: [
      {
        name: request.userName,
        user: {
          "client-certificate-data": await base64Of(request.client.cert),
          "client-key-data": await base64Of(request.client.key),
        },
      },
    ],
    contexts: [{ name: cluster, context: { cluster, user: request.userName } }],
    "current-context": cluster,
  };
  await writeFile(request.path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
}
