// Kubeconfig files with the certificates embedded, so a file stays usable when copied. JSON is
// valid YAML, and every client we use (client-go, kubectl, kwok, @kubernetes/client-node) reads it.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type CertificateFiles, issueCertificate } from "./pki.ts";

interface KubeconfigRequest {
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

async function writeKubeconfig(request: KubeconfigRequest): Promise<void> {
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

/** A client of the plane: who it is, where its certificate and kubeconfig go. */
export interface PlaneClientRequest {
  /** The plane's PKI directory (its CA is `ca.crt`/`ca.key` there). */
  pki: string;
  server: string;
  /** The kubeconfig to write. */
  path: string;
  /** File name of the certificate and key. */
  name: string;
  /** The user the apiserver sees (the certificate's CN) and its groups (O). */
  user: string;
  groups?: string[];
  /** Where the certificate goes; the PKI directory by default. */
  dir?: string;
}

/** Issues a client certificate from the plane's CA and writes the kubeconfig that presents it. */
export async function writePlaneClientKubeconfig(request: PlaneClientRequest): Promise<void> {
  const ca = { cert: join(request.pki, "ca.crt"), key: join(request.pki, "ca.key") };
  const client = await issueCertificate({
    ca,
    dir: request.dir ?? request.pki,
    name: request.name,
    commonName: request.user,
    ...(request.groups === undefined ? {} : { organizations: request.groups }),
    usage: "client",
  });
  await writeKubeconfig({
    path: request.path,
    server: request.server,
    caCert: ca.cert,
    client,
    userName: request.user,
  });
}
