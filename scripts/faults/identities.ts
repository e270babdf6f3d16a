// A kubeconfig per prepull replica, each with its own client certificate (CN = the replica's
// lease identity, groups system:masters and the plane's audited group). The apiserver's audit log
// then names which replica made each request, so a test judges leadership from the server's side.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { AUDITED_GROUP } from "../cluster/components.ts";
import { writeKubeconfig } from "../cluster/kubeconfig.ts";
import type { ClusterPaths } from "../cluster/paths.ts";
import { issueCertificate } from "../cluster/pki.ts";
import { apiserverUrl, readState } from "../cluster/state.ts";

/** Writes `<plane>/identities/<identity>.kubeconfig` (once) and returns its path. */
export async function auditedKubeconfig(paths: ClusterPaths, identity: string): Promise<string> {
  const state = await readState(paths);
  if (state === undefined) throw new Error(`no running plane in ${paths.root}`);
  const dir = join(paths.root, "identities");
  await mkdir(dir, { recursive: true });
  const ca = { cert: join(paths.pki, "ca.crt"), key: join(paths.pki, "ca.key") };
  const client = await issueCertificate({
    ca,
    dir,
    name: identity,
    commonName: identity,
    organizations: ["system:masters", AUDITED_GROUP],
    usage: "client",
  });
  const path = join(dir, `${identity}.kubeconfig`);
  await writeKubeconfig({ path, server: apiserverUrl(state), caCert: ca.cert, client, userName: identity });
  return path;
}
