// What a running plane needs remembered between commands: where its binaries are, its ports and
// its node pool sizes. Written once the plane is up; its absence means "no plane".
import { readFile, writeFile } from "node:fs/promises";
import type { PoolSizes } from "./node-pools.ts";
import type { ClusterPaths } from "./paths.ts";
import type { RealNode } from "./real-node/real-node.ts";

interface PlanePorts {
  etcdClient: number;
  etcdPeer: number;
  apiserver: number;
  controllerManager: number;
  scheduler: number;
  kwok: number;
}

export interface PlaneState {
  binDir: string;
  /** As `kube-apiserver --version` reports it, e.g. v1.37.2. */
  kubernetesVersion: string;
  ports: PlanePorts;
  pools: PoolSizes;
  /** The kubelet + containerd node, or why there is none. */
  realNode: RealNode;
  startedAt: string;
}

export async function readState(paths: ClusterPaths): Promise<PlaneState | undefined> {
  let text: string;
  try {
    text = await readFile(paths.stateFile, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  return JSON.parse(text) as PlaneState;
}

export async function writeState(paths: ClusterPaths, state: PlaneState): Promise<void> {
  await writeFile(paths.stateFile, `${JSON.stringify(state, null, 2)}\n`);
}

export function apiserverUrl(state: PlaneState): string {
  return `https://127.0.0.1:${state.ports.apiserver}`;
}
