// The local control plane as a whole: `upPlane` reuses a healthy running plane or starts a fresh
// one (after clearing what a killed run left), `downPlane` stops every process and removes the
// state directory. The CLI, the e2e global setup and the demo all go through these two.

import { execFile } from "node:child_process";
import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { RbacAuthorizationV1Api } from "@kubernetes/client-node";
import { resolveBinDir } from "./binaries.ts";
import {
  COMPONENTS,
  type Component,
  componentKubeconfig,
  etcd,
  healthUrl,
  kubeApiserver,
  kubeControllerManager,
  kubeScheduler,
  kwok,
} from "./components.ts";
import { adminClients } from "./kube-client.ts";
import { writeKubeconfig } from "./kubeconfig.ts";
import { withLock } from "./lock.ts";
import { DEFAULT_POOL_SIZES, type PoolSizes } from "./node-pools.ts";
import { describe, reconcileNodePools, waitForReadyNodes } from "./nodes.ts";
import { type ClusterPaths, clusterPaths } from "./paths.ts";
import { createCertificateAuthority, createSigningKeyPair, issueCertificate } from "./pki.ts";
import { freeLoopbackPorts } from "./ports.ts";
import { isHealthy, type TlsClient, waitUntil } from "./probe.ts";
import {
  findOurProcesses,
  isOurProcess,
  type ProcessSpec,
  readPid,
  removePidFile,
  startProcess,
  stopProcess,
} from "./processes.ts";
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
      await stopProcesses(paths, log);
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

async function adminTls(paths: ClusterPaths): Promise<TlsClient> {
  const [ca, cert, key] = await Promise.all(
    ["ca.crt", "admin.crt", "admin.key"].map((file) => readFile(join(paths.pki, file))),
  );
  return { ca: ca as Buffer, cert: cert as Buffer, key: key as Buffer };
}

/** Stops every process of this plane and removes its state. */
async function clearLeftovers(paths: ClusterPaths, log: Progress): Promise<void> {
  await stopProcesses(paths, log);
  await rm(paths.root, { recursive: true, force: true });
}

/** Stops every process of this plane: those with pid files, then any stray one. */
async function stopProcesses(paths: ClusterPaths, log: Progress): Promise<void> {
  const stopped: string[] = [];
  // Processes started alongside the plane (the demo's prepull) go first, then the real node (its
  // pods through the CRI while containerd still runs), then the plane in reverse.
  for (const name of EXTRA_PROCESSES) {
    const pid = await readPid(paths, name);
    if (pid !== undefined && (await isOurProcess(pid, paths))) {
      await stopProcess(pid, paths);
      stopped.push(name);
    }
    await removePidFile(paths, name);
  }
  await stopRealNode(paths, (await readState(paths))?.binDir, log);
  for (const component of [...COMPONENTS].reverse()) {
    const pid = await readPid(paths, component);
    if (pid !== undefined && (await isOurProcess(pid, paths))) {
      await stopProcess(pid, paths);
      stopped.push(component);
    }
    await removePidFile(paths, component);
  }
  const strays = await findOurProcesses(paths);
  for (const pid of strays) await stopProcess(pid, paths);
  // A stray shim or kubelet of a killed run may have left pods behind: clear the host once more.
  if (strays.length > 0) await stopRealNode(paths, undefined, log);
  if (stopped.length > 0) log(`stopped ${stopped.join(", ")}`);
  if (strays.length > 0)
    log(`stopped ${strays.length} stray process(es) of an earlier run: ${strays.join(", ")}`);
  await rm(paths.root, { recursive: true, force: true });
}

async function startFresh(paths: ClusterPaths, pools: PoolSizes, log: Progress): Promise<PlaneState> {
  log("resolving the control-plane binaries (scripts/build-kube.sh)");
  const binDir = await resolveBinDir();
  const kubernetesVersion = await versionOf(join(binDir, "kube-apiserver"));
  log(`Kubernetes ${kubernetesVersion} from ${binDir}`);
  for (const dir of [paths.root, paths.pki, paths.logs, paths.pids, paths.users])
    await mkdir(dir, { recursive: true });

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

  await createPki(paths, state);
  log("certificates and kubeconfigs written");
  const tls = await adminTls(paths);

  await startAndWait(paths, etcd(paths, state), "etcd", state, tls, log, 30_000);
  await startAndWait(paths, kubeApiserver(paths, state), "kube-apiserver", state, tls, log, 120_000);
  await Promise.all([
    startAndWait(
      paths,
      kubeControllerManager(paths, state),
      "kube-controller-manager",
      state,
      tls,
      log,
      60_000,
    ),
    kubeScheduler(paths, state).then((spec) =>
      startAndWait(paths, spec, "kube-scheduler", state, tls, log, 60_000),
    ),
    kwok(paths, state).then((spec) => startAndWait(paths, spec, "kwok", state, tls, log, 60_000)),
  ]);
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

async function startAndWait(
  paths: ClusterPaths,
  spec: ProcessSpec,
  component: Component,
  state: PlaneState,
  tls: TlsClient,
  log: Progress,
  timeoutMs: number,
): Promise<void> {
  const pid = await startProcess(paths, spec);
  const logFile = join(paths.logs, `${component}.log`);
  await waitUntil(async () => ((await isHealthy(healthUrl(component, state), tls)) ? true : undefined), {
    what: `${component} to become healthy (log: ${logFile})`,
    timeoutMs,
    stillPossible: async () => {
      if (!(await isOurProcess(pid, paths))) {
        throw new Error(
          `${component} exited during start-up; last lines of ${logFile}:\n${await tail(logFile, 25)}`,
        );
      }
    },
  });
  log(`${component} healthy (pid ${pid})`);
}

async function tail(file: string, lines: number): Promise<string> {
  return (await readFile(file, "utf8")).trimEnd().split("\n").slice(-lines).join("\n");
}

async function createPki(paths: ClusterPaths, state: PlaneState): Promise<void> {
  const dir = paths.pki;
  const ca = await createCertificateAuthority(dir, "ca", "prepull-local-cluster-ca");
  const loopback = { ipAddresses: ["127.0.0.1"], dnsNames: ["localhost"] };
  await issueCertificate({
    ca,
    dir,
    name: "apiserver",
    commonName: "kube-apiserver",
    usage: "server",
    // The real node's bridge address: pods reach the apiserver there (real-node/apiserver-forward.ts).
    ipAddresses: ["127.0.0.1", "10.96.0.1", realNodeLayout(paths).gateway],
    dnsNames: [
      "localhost",
      "kubernetes",
      "kubernetes.default",
      "kubernetes.default.svc",
      "kubernetes.default.svc.cluster.local",
    ],
  });
  await createSigningKeyPair(dir, "service-accounts");
  // The apiserver's identity towards kubelets (logs, exec); the real node's kubelet authorises it.
  await issueCertificate({
    ca,
    dir,
    name: "apiserver-kubelet-client",
    commonName: "kube-apiserver-kubelet-client",
    organizations: ["system:masters"],
    usage: "client",
  });
  const server = apiserverUrl(state);
  const admin = await issueCertificate({
    ca,
    dir,
    name: "admin",
    commonName: "kubernetes-admin",
    organizations: ["system:masters"],
    usage: "client",
  });
  await writeKubeconfig({
    path: paths.kubeconfig,
    server,
    caCert: ca.cert,
    client: admin,
    userName: "kubernetes-admin",
  });
  const identities: Record<Exclude<Component, "etcd" | "kube-apiserver">, { cn: string; o?: string[] }> = {
    "kube-controller-manager": { cn: "system:kube-controller-manager" },
    "kube-scheduler": { cn: "system:kube-scheduler" },
    // kwok writes every Node's and Pod's status; in a real cluster that is many kubelets.
    kwok: { cn: "kwok-controller", o: ["system:masters"] },
  };
  for (const [component, identity] of Object.entries(identities) as [
    keyof typeof identities,
    { cn: string; o?: string[] },
  ][]) {
    const client = await issueCertificate({
      ca,
      dir,
      name: component,
      commonName: identity.cn,
      organizations: identity.o,
      usage: "client-and-server",
      ...loopback,
    });
    await writeKubeconfig({
      path: componentKubeconfig(paths, component),
      server,
      caCert: ca.cert,
      client,
      userName: identity.cn,
    });
  }
}
