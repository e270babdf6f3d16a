// The local control plane as a whole: `upPlane` reuses a healthy running plane or starts a fresh
// one (after clearing what a killed run left), `downPlane` stops every process and removes the
// state directory. The CLI, the e2e global setup and the demo all go through these two.

import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { RbacAuthorizationV1Api } from "@kubernetes/client-node";
import { resolveBinDir } from "./binaries.ts";
import { COMPONENTS, type Component, healthUrl } from "./components.ts";
import { adminClients } from "./kube-client.ts";
import { writePlaneClientKubeconfig } from "./kubeconfig.ts";
import { createCluster, deleteCluster, type KwokctlRun } from "./kwokctl.ts";
import { withLock } from "./lock.ts";
import { DEFAULT_POOL_SIZES, type PoolSizes } from "./node-pools.ts";
import { describe, reconcileNodePools, waitForReadyNodes } from "./nodes.ts";
import { type ClusterPaths, clusterPaths } from "./paths.ts";
import { freeLoopbackPorts } from "./ports.ts";
import { isHealthy, type TlsClient, waitUntil } from "./probe.ts";
import { findOurProcesses, isOurProcess, readPid, removePidFile, stopProcess } from "./processes.ts";
import type { Progress } from "./progress.ts";
import { realNodeLayout } from "./real-node/layout.ts";
import { realNodeHealthy, startRealNode, stopRealNode } from "./real-node/real-node.ts";
import { apiserverUrl, type PlaneState, readState, writeState } from "./state.ts";

const execFileAsync = promisify(execFile);

/** Processes that live with the plane without being part of it; `down` stops them too. */
const EXTRA_PROCESSES = ["prepull"] as const;

export interface Plane {
  paths: ClusterPaths;
  state: PlaneState;
  /** The admin kubeconfig. */
  kubeconfig: string;
  /** True when an already running plane was reused. */
  reused: boolean;
}

export interface UpOptions {
  log: Progress;
  /** Pool sizes to converge to; undefined keeps a reused plane's pools (and uses the defaults when fresh). */
  pools?: PoolSizes;
  paths?: ClusterPaths;
}

export async function upPlane(options: UpOptions): Promise<Plane> {
  const paths = options.paths ?? clusterPaths();
  const { log } = options;
  return withLock(paths.lockFile, log, async () => {
    const running = await healthyState(paths);
    if (running) {
      log(`reusing the running plane (${apiserverUrl(running)})`);
      if (options.pools) {
        await convergeNodes(paths, running, options.pools, log);
        running.pools = options.pools;
        await writeState(paths, running);
      }
      return { paths, state: running, kubeconfig: paths.kubeconfig, reused: true };
    }
    await clearLeftovers(paths, log);
    try {
      const state = await startFresh(paths, options.pools ?? { ...DEFAULT_POOL_SIZES }, log);
      return { paths, state, kubeconfig: paths.kubeconfig, reused: false };
    } catch (error) {
      // Nothing half-started keeps running; the logs stay for reading (the next up or down removes them).
      await stopProcesses(paths, log, undefined);
      log(`start-up failed; logs kept in ${paths.logs}`);
      throw error;
    }
  });
}

export async function downPlane(log: Progress, paths = clusterPaths()): Promise<void> {
  await withLock(paths.lockFile, log, async () => {
    await clearLeftovers(paths, log);
  });
}

/** The plane's state if every process is ours, alive and healthy; undefined otherwise. */
export async function healthyState(paths: ClusterPaths): Promise<PlaneState | undefined> {
  const state = await readState(paths);
  if (!state) return undefined;
  const tls = await adminTls(paths);
  // No PKI where kwokctl keeps it: a plane from before kwokctl, or one half torn down.
  if (tls === undefined) return undefined;
  for (const component of COMPONENTS) {
    const pid = await readPid(paths, component);
    if (pid === undefined || !(await isOurProcess(pid, paths))) return undefined;
    if (!(await isHealthy(healthUrl(component, state), tls))) return undefined;
  }
  // A plane from before the real node existed has no such field: not one this code can reuse.
  if (state.realNode === undefined) return undefined;
  if (state.realNode.enabled && !(await realNodeHealthy(paths, state.realNode))) return undefined;
  return state;
}

/** kwokctl's admin client certificate, for the health probes; undefined until kwokctl has written it. */
async function adminTls(paths: ClusterPaths): Promise<TlsClient | undefined> {
  try {
    const [ca, cert, key] = await Promise.all(
      ["ca.crt", "admin.crt", "admin.key"].map((file) => readFile(join(paths.pki, file))),
    );
    return { ca: ca as Buffer, cert: cert as Buffer, key: key as Buffer };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** Stops every process of this plane and removes its state. */
async function clearLeftovers(paths: ClusterPaths, log: Progress): Promise<void> {
  await stopProcesses(paths, log, (await readState(paths))?.binDir);
  await rm(paths.root, { recursive: true, force: true });
}

/**
 * Stops every process of this plane: the demo's prepull, the real node, then kwokctl's cluster
 * (`kwokctl delete cluster`, when the binary directory is known; it removes its directory, logs
 * included), then any stray one of ours found through /proc.
 */
async function stopProcesses(paths: ClusterPaths, log: Progress, binDir: string | undefined): Promise<void> {
  const stopped: string[] = [];
  // Processes started alongside the plane (the demo's prepull) go first, then the real node (its
  // pods through the CRI while containerd still runs), then the plane.
  for (const name of EXTRA_PROCESSES) {
    const pid = await readPid(paths, name);
    if (pid !== undefined && (await isOurProcess(pid, paths))) {
      await stopProcess(pid, paths);
      stopped.push(name);
    }
    await removePidFile(paths, name);
  }
  await stopRealNode(paths, binDir, log);
  if (binDir !== undefined && existsSync(paths.kwokctlCluster)) {
    await deleteCluster(paths, binDir);
    stopped.push("kwokctl cluster");
  }
  const strays = await findOurProcesses(paths);
  for (const pid of strays) await stopProcess(pid, paths);
  // A stray shim or kubelet of a killed run may have left pods behind: clear the host once more.
  if (strays.length > 0) await stopRealNode(paths, undefined, log);
  if (stopped.length > 0) log(`stopped ${stopped.join(", ")}`);
  if (strays.length > 0)
    log(`stopped ${strays.length} stray process(es) of an earlier run: ${strays.join(", ")}`);
}

async function startFresh(paths: ClusterPaths, pools: PoolSizes, log: Progress): Promise<PlaneState> {
  log("resolving the control-plane binaries (scripts/build-kube.sh)");
  const binDir = await resolveBinDir();
  const kubernetesVersion = await versionOf(join(binDir, "kube-apiserver"));
  log(`Kubernetes ${kubernetesVersion} from ${binDir}`);
  // Not kwokctl's directories: it writes its PKI only where no pki directory exists yet.
  for (const dir of [paths.root, paths.users]) await mkdir(dir, { recursive: true });

  const [etcdClient, etcdPeer, apiserver, controllerManager, scheduler, kwokPort] =
    await freeLoopbackPorts(6);
  const state: PlaneState = {
    binDir,
    kubernetesVersion,
    ports: {
      etcdClient: etcdClient as number,
      etcdPeer: etcdPeer as number,
      apiserver: apiserver as number,
      controllerManager: controllerManager as number,
      scheduler: scheduler as number,
      kwok: kwokPort as number,
    },
    pools,
    realNode: { enabled: false, reason: "not started yet" },
    startedAt: new Date().toISOString(),
  };

  const kwokctl = await createCluster({
    paths,
    binDir,
    ports: state.ports,
    podGateway: realNodeLayout(paths).gateway,
  });
  try {
    await waitForComponents(paths, state, kwokctl, log);
  } finally {
    // Gone already when all went well; on a failure it may still be waiting for the apiserver.
    kwokctl.kill();
  }
  await writeAdminKubeconfig(paths, state);
  await writeState(paths, state);
  await convergeNodes(paths, state, pools, log);
  state.realNode = await startRealNode({
    paths,
    binDir,
    apiserver: apiserverUrl(state),
    core: adminClients(paths.kubeconfig).core,
    rbac: adminClients(paths.kubeconfig).kubeConfig.makeApiClient(RbacAuthorizationV1Api),
    log,
  });
  await writeState(paths, state);
  return state;
}

async function convergeNodes(
  paths: ClusterPaths,
  state: PlaneState,
  pools: PoolSizes,
  log: Progress,
): Promise<void> {
  const { core } = adminClients(paths.kubeconfig);
  await reconcileNodePools(core, pools, state.kubernetesVersion, log);
  await waitForReadyNodes(core, pools, log);
  log(`nodes Ready (${describe(pools)})`);
}

async function versionOf(binary: string): Promise<string> {
  const { stdout } = await execFileAsync(binary, ["--version"]);
  const version = stdout.trim().split(/\s+/).at(-1);
  if (!version?.startsWith("v")) throw new Error(`cannot read the version of ${binary}: "${stdout.trim()}"`);
  return version;
}

const START_TIMEOUT_MS: Record<Component, number> = {
  etcd: 30_000,
  "kube-apiserver": 120_000,
  "kube-controller-manager": 60_000,
  "kube-scheduler": 60_000,
  "kwok-controller": 60_000,
};

/** Waits for each component's health in start order; fails early when one (or kwokctl) exits. */
async function waitForComponents(
  paths: ClusterPaths,
  state: PlaneState,
  kwokctl: KwokctlRun,
  log: Progress,
): Promise<void> {
  let failed: string | undefined;
  kwokctl.done.then(
    ({ code, output }) => {
      if (code !== 0) failed = `kwokctl create cluster exited with ${code}:\n${lastLines(output, 25)}`;
    },
    (error: Error) => {
      failed = `cannot run kwokctl: ${error.message}`;
    },
  );
  for (const component of COMPONENTS) {
    const logFile = join(paths.logs, `${component}.log`);
    await waitUntil(
      async () => {
        // kwokctl writes the admin certificate before it starts anything.
        const tls = await adminTls(paths);
        return tls !== undefined && (await isHealthy(healthUrl(component, state), tls)) ? true : undefined;
      },
      {
        what: `${component} to become healthy (log: ${logFile})`,
        timeoutMs: START_TIMEOUT_MS[component],
        stillPossible: async () => {
          if (failed !== undefined) throw new Error(failed);
          const pid = await readPid(paths, component);
          if (pid !== undefined && !(await isOurProcess(pid, paths)))
            throw new Error(
              `${component} exited during start-up; last lines of ${logFile}:\n${lastLines(await readFile(logFile, "utf8"), 25)}`,
            );
        },
      },
    );
    log(`${component} healthy (pid ${await readPid(paths, component)})`);
  }
  // kwokctl returns once its own probe (kubectl get --raw /version) has answered.
  const { code, output } = await kwokctl.done;
  if (code !== 0) throw new Error(`kwokctl create cluster exited with ${code}:\n${lastLines(output, 25)}`);
}

function lastLines(text: string, lines: number): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

/**
 * The admin kubeconfig as before kwokctl: user kubernetes-admin (system:masters), the name
 * kubeadm gives it, which the captured AdmissionReviews carry (test/e2e/capture-fixtures.test.ts);
 * kwokctl's own admin is kwok-admin.
 */
async function writeAdminKubeconfig(paths: ClusterPaths, state: PlaneState): Promise<void> {
  await writePlaneClientKubeconfig({
    pki: paths.pki,
    server: apiserverUrl(state),
    path: paths.kubeconfig,
    name: "kubernetes-admin",
    user: "kubernetes-admin",
    groups: ["system:masters"],
  });
}
