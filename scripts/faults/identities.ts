// A kubeconfig per prepull replica, each with its own client certificate (CN = the replica's
// lease identity, groups system:masters and the plane's audited group). The apiserver's audit log
// then names which replica made each request, so a test judges leadership from the server's side.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { AUDITED_GROUP } from "../cluster/components.ts";
import { writePlaneClientKubeconfig } from "../cluster/kubeconfig.ts";
import type { ClusterPaths } from "../cluster/paths.ts";
import { apiserverUrl, readState } from "../cluster/state.ts";

/** Writes `<plane>/identities/<identity>.kubeconfig` (once) and returns its path. */
export async function auditedKubeconfig(paths: ClusterPaths, identity: string): Promise<string> {
  const state = await readState(paths);
  if (state === undefined) throw new Error(`no running plane in ${paths.root}`);
  const dir = join(paths.root, "identities");
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${identity}.kubeconfig`);
  await writePlaneClientKubeconfig({
    pki: paths.pki,
    server: apiserverUrl(state),
    path,
    dir,
    name: identity,
    user: identity,
    groups: ["system:masters", AUDITED_GROUP],
  });
  return path;
}
