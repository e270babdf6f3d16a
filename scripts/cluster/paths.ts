// Where the local control plane keeps its state: one directory inside the repository (git-ignored
// through `.prepull/`), so every checkout has its own plane and `cluster:down` removes it whole.
// kwokctl keeps its cluster (PKI, etcd data, logs, pid files) in a workdir inside it, so no
// checkout touches another's, nor ~/.kwok.
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The name kwokctl knows the plane by (its directory is <workdir>/clusters/<name>). */
export const KWOKCTL_CLUSTER_NAME = "prepull";

export interface ClusterPaths {
  root: string;
  /** KWOK_WORKDIR for every kwokctl command of this plane. */
  kwokctlWorkdir: string;
  /** The configuration `kwokctl create cluster` reads (written by the plane before it runs). */
  kwokctlConfig: string;
  /** kwokctl's cluster directory; `kwokctl delete cluster` removes it. */
  kwokctlCluster: string;
  /** kwokctl's CA (ca.crt, ca.key) and admin client certificate (system:masters); the real node's too. */
  pki: string;
  /** One log per process: kwokctl's components, audit.log, and the real node's. */
  logs: string;
  /** One pid file per process, in kwokctl's format (the pid, no newline). */
  pids: string;
  /** The admin kubeconfig (client certificate kubernetes-admin in system:masters). */
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
  const kwokctlWorkdir = join(root, "kwokctl");
  const kwokctlCluster = join(kwokctlWorkdir, "clusters", KWOKCTL_CLUSTER_NAME);
  return {
    root,
    kwokctlWorkdir,
    kwokctlConfig: join(root, "kwokctl.yaml"),
    kwokctlCluster,
    pki: join(kwokctlCluster, "pki"),
    logs: join(kwokctlCluster, "logs"),
    pids: join(kwokctlCluster, "pids"),
    kubeconfig: join(root, "kubeconfig"),
    stateFile: join(root, "state.json"),
    lockFile: join(resolve(root, ".."), "cluster.lock"),
    users: join(root, "users"),
    startedByTests: join(root, "started-by-tests"),
  };
}
