// Where the local control plane keeps its state: one directory inside the repository (git-ignored
// through `.prepull/`), so every checkout has its own plane and `cluster:down` removes it whole.
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

export interface ClusterPaths {
  root: string;
  pki: string;
  etcdData: string;
  logs: string;
  pids: string;
  /** The admin kubeconfig (client certificate in system:masters). */
  kubeconfig: string;
  /** Ports, binary directory and node pool sizes of the running plane. */
  stateFile: string;
  /** Held while one `up` or `down` runs, so two test runs starting at once do not race. */
  lockFile: string;
  /** One file per live user process (test runs); the last one out may stop a plane tests started. */
  users: string;
  /** Present when a test run (not a person) started the plane, so test teardown may stop it. */
  startedByTests: string;
}

export function clusterPaths(
  root = process.env.PREPULL_CLUSTER_DIR ?? join(REPO_ROOT, ".prepull", "cluster"),
): ClusterPaths {
  return {
    root,
    pki: join(root, "pki"),
    etcdData: join(root, "etcd"),
    logs: join(root, "logs"),
    pids: join(root, "pids"),
    kubeconfig: join(root, "kubeconfig"),
    stateFile: join(root, "state.json"),
    lockFile: join(resolve(root, ".."), "cluster.lock"),
    users: join(root, "users"),
    startedByTests: join(root, "started-by-tests"),
  };
}
