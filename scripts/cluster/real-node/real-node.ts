// The real node: a kubelet with containerd and runc on this machine, joined to the local plane
// next to the KWOK pools, pulling from a local registry through a throttled port, with kube-proxy
// routing Service cluster IPs and CoreDNS answering Service names for its pods. `startRealNode`
// brings it up (or says in one line why it cannot), `stopRealNode` removes it and everything it
// put on the host.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import type { CoreV1Api, RbacAuthorizationV1Api } from "@kubernetes/client-node";
import { isReady } from "../nodes.ts";
import type { ClusterPaths } from "../paths.ts";
import { REPO_ROOT } from "../paths.ts";
import { freeLoopbackPorts } from "../ports.ts";
import { isHealthy, type TlsClient, waitUntil } from "../probe.ts";
import {
  findOurProcesses,
  isOurProcess,
  type ProcessSpec,
  readPid,
  removePidFile,
  startProcess,
  stopProcess,
} from "../processes.ts";
import { type Progress, silentProgress } from "../progress.ts";
import { clusterDnsProcess, grantClusterDnsAccess, writeClusterDnsFiles } from "./cluster-dns.ts";
import { containerdProcess, writeContainerdFiles } from "./containerd.ts";
import { hostProblem } from "./host.ts";
import { largeImageMib, pushTestImages, testImages } from "./images.ts";
import {
  cleanUpKubeProxyRules,
  KUBE_PROXY_NAT_CHAIN,
  kubeProxyProcess,
  kubeProxyRulesPresent,
  writeKubeProxyFiles,
} from "./kube-proxy.ts";
import { kubeletProcess, writeKubeletFiles } from "./kubelet.ts";
import { REAL_NODE_NAME, type RealNodeLayout, realNodeLayout } from "./layout.ts";
import { leftovers, removeAllPods, removeBridge, removeCgroups, unmountAll } from "./teardown.ts";

const execFileAsync = promisify(execFile);

/** The real node's processes, in start order (stop order is the reverse). */
const REAL_NODE_PROCESSES = [
  "registry",
  "registry-throttle",
  "apiserver-forward",
  "containerd",
  "kubelet",
  "kube-proxy",
  "coredns",
] as const;
const THROTTLE_PROXY = join(REPO_ROOT, "scripts", "cluster", "real-node", "throttle-proxy.ts");
const APISERVER_FORWARD = join(REPO_ROOT, "scripts", "cluster", "real-node", "apiserver-forward.ts");

/**
 * How fast the node pulls from the registry: PREPULL_REGISTRY_MBPS (megabytes per second), 100 by
 * default: a fast cloud registry as one node sees it.
 */
export function registryBytesPerSecond(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.PREPULL_REGISTRY_MBPS ?? "100";
  const mbps = Number(raw);
  if (!Number.isFinite(mbps) || mbps <= 0 || mbps > 100_000)
    throw new Error(`PREPULL_REGISTRY_MBPS must be a number of megabytes per second above 0, got "${raw}"`);
  return mbps * 1e6;
}

export interface RealNodeState {
  enabled: true;
  nodeName: string;
  ports: {
    registry: number;
    registryThrottled: number;
    kubelet: number;
    kubeletHealthz: number;
    kubeProxyHealthz: number;
    clusterDnsReady: number;
  };
  /**
   * Where pods on this node reach the apiserver (the bridge address, forwarded to loopback): what
   * an in-cluster client needs as KUBERNETES_SERVICE_HOST/PORT here: the `kubernetes` Service has
   * no endpoints (the apiserver listens on loopback only), so its cluster IP leads nowhere.
   */
  apiserverForPods: { host: string; port: number };
  /** The cluster DNS pods on this node use (the kubelet's clusterDNS): CoreDNS on the bridge address. */
  clusterDns: string;
  registryBytesPerSecond: number;
  containerdSocket: string;
  /** Reference → manifest digest of every test image pushed to the registry. */
  images: Record<string, string>;
  largeImageMib: number;
}
export type RealNode = RealNodeState | { enabled: false; reason: string };

export interface RealNodeOptions {
  paths: ClusterPaths;
  binDir: string;
  apiserver: string;
  core: CoreV1Api;
  /** To grant the cluster DNS what it reads. */
  rbac: RbacAuthorizationV1Api;
  log: Progress;
  env?: NodeJS.ProcessEnv;
}

/** Starts the node; a host that cannot run one gives `{ enabled: false, reason }` (CI must run it). */
export async function startRealNode(options: RealNodeOptions): Promise<RealNode> {
  const { paths, binDir, log } = options;
  const env = options.env ?? process.env;
  if (env.PREPULL_REAL_NODE === "off") return { enabled: false, reason: "PREPULL_REAL_NODE=off" };
  const problem = await hostProblem(log);
  if (problem !== undefined) {
    if (env.CI === "true") throw new Error(`the real node cannot run on this machine: ${problem}`);
    log(`real node: not started: ${problem}; carrying on with the simulated nodes only`);
    return { enabled: false, reason: problem };
  }
  const layout = realNodeLayout(paths);
  await mkdir(layout.registryBlobs, { recursive: true });
  const [
    registry,
    registryThrottled,
    kubelet,
    kubeletHealthz,
    forward,
    proxyHealthz,
    proxyMetrics,
    dnsReady,
  ] = (await freeLoopbackPorts(8)) as [number, number, number, number, number, number, number, number];
  const bytesPerSecond = registryBytesPerSecond(env);
  const state: RealNodeState = {
    enabled: true,
    nodeName: REAL_NODE_NAME,
    ports: {
      registry,
      registryThrottled,
      kubelet,
      kubeletHealthz,
      kubeProxyHealthz: proxyHealthz,
      clusterDnsReady: dnsReady,
    },
    apiserverForPods: { host: layout.gateway, port: forward },
    clusterDns: layout.gateway,
    registryBytesPerSecond: bytesPerSecond,
    containerdSocket: layout.containerdSocket,
    images: {},
    largeImageMib: largeImageMib(env),
  };

  await startAndWait(
    paths,
    registryProcess(binDir, layout, registry),
    `http://127.0.0.1:${registry}/v2/`,
    log,
  );
  await startAndWait(
    paths,
    throttleProcess(paths, registry, registryThrottled, bytesPerSecond),
    `http://127.0.0.1:${registryThrottled}/v2/`,
    log,
  );
  log(
    `registry on 127.0.0.1:${registry}, pulls throttled to ${(bytesPerSecond / 1e6).toFixed(0)} MB/s on :${registryThrottled}`,
  );

  await createBridge(layout);
  await startAndWait(
    paths,
    apiserverForwardProcess(paths, state.apiserverForPods, Number(new URL(options.apiserver).port)),
    `https://${layout.gateway}:${forward}/readyz`,
    log,
    // Verified as pods verify it: the plane's CA, the bridge address among the certificate's IPs.
    { ca: await readFile(join(paths.pki, "ca.crt")) },
  );

  const images = pushImages(binDir, registry, state.largeImageMib, log);
  const node = (async () => {
    await writeContainerdFiles(layout, registryThrottled);
    await startProcess(paths, containerdProcess(binDir, layout));
    await waitUntil(async () => ((await criReady(binDir, layout)) ? true : undefined), {
      what: `containerd to answer on ${layout.containerdSocket} (log: ${join(paths.logs, "containerd.log")})`,
      timeoutMs: 60_000,
    });
    log("containerd ready");
    await createCgroupRoot(layout);
    await writeKubeletFiles(paths, layout, { kubelet, healthz: kubeletHealthz }, options.apiserver);
    await startAndWait(
      paths,
      kubeletProcess(binDir, layout),
      `http://127.0.0.1:${kubeletHealthz}/healthz`,
      log,
    );
  })();
  // The cluster DNS needs only the bridge and the apiserver: it starts while the node does.
  const clusterDns = (async () => {
    await grantClusterDnsAccess(options.rbac);
    await writeClusterDnsFiles(paths, layout, dnsReady, options.apiserver);
    await startAndWait(paths, clusterDnsProcess(binDir, layout), `http://127.0.0.1:${dnsReady}/ready`, log);
  })();
  const [digests] = await Promise.all([images, node, clusterDns]);
  state.images = digests;
  await waitUntil(
    async () => {
      const node = await options.core.readNode({ name: REAL_NODE_NAME }).catch(() => undefined);
      return node && isReady(node) ? true : undefined;
    },
    {
      what: `node ${REAL_NODE_NAME} Ready (log: ${join(paths.logs, "kubelet.log")})`,
      timeoutMs: 120_000,
      intervalMs: 500,
    },
  );
  // kube-proxy reads its node's addresses from the Node object the kubelet registered.
  await writeKubeProxyFiles(
    paths,
    layout,
    { healthz: proxyHealthz, metrics: proxyMetrics },
    options.apiserver,
  );
  await startAndWait(
    paths,
    kubeProxyProcess(binDir, layout),
    `http://127.0.0.1:${proxyHealthz}/healthz`,
    log,
  );
  // Its healthz answers 200 before the first sync has written any rule; the Service chain in the
  // nat table says the node routes cluster IPs.
  await waitUntil(async () => ((await kubeProxyRulesPresent()) ? true : undefined), {
    what: `kube-proxy's first sync (chain ${KUBE_PROXY_NAT_CHAIN} in the nat table; log: ${join(paths.logs, "kube-proxy.log")})`,
    timeoutMs: 60_000,
    intervalMs: 250,
  });
  log(
    `real node ${REAL_NODE_NAME} Ready (kubelet + containerd + runc; kube-proxy; cluster DNS on ${layout.gateway}:53)`,
  );
  return state;
}

async function pushImages(
  binDir: string,
  registryPort: number,
  largeMib: number,
  log: Progress,
): Promise<Record<string, string>> {
  const sleeperHash = (await readFile(join(binDir, "prepull-sleep.version"), "utf8")).trim();
  const cacheRoot =
    process.env.PREPULL_CACHE_DIR ??
    join(process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? "/root", ".cache"), "prepull");
  return pushTestImages(testImages(join(binDir, "prepull-sleep"), largeMib), {
    craneBinary: join(binDir, "crane"),
    registryPort,
    cacheDir: join(cacheRoot, "images"),
    sleeperHash,
    platform: `linux/${process.arch === "arm64" ? "arm64" : "amd64"}`,
    log,
  });
}

function registryProcess(binDir: string, layout: RealNodeLayout, port: number): ProcessSpec {
  return {
    name: "registry",
    command: join(binDir, "crane"),
    args: ["registry", "serve", `--address=127.0.0.1:${port}`, `--disk=${layout.registryBlobs}`],
  };
}

function apiserverForwardProcess(
  paths: ClusterPaths,
  listen: { host: string; port: number },
  apiserverPort: number,
): ProcessSpec {
  return {
    name: "apiserver-forward",
    command: process.execPath,
    args: [
      APISERVER_FORWARD,
      `--listen=${listen.host}:${listen.port}`,
      `--target=${apiserverPort}`,
      `--plane=${paths.root}`,
    ],
  };
}

/**
 * The pods' bridge, made before the first pod so the apiserver forwarder can listen on its
 * address. The CNI bridge plugin (`isGateway`) takes an existing bridge that already holds the
 * gateway address as it is.
 */
async function createBridge(layout: RealNodeLayout): Promise<void> {
  const ip = (...args: string[]) => execFileAsync("ip", args);
  if (!existsSync(`/sys/class/net/${layout.bridge}`))
    await ip("link", "add", "name", layout.bridge, "type", "bridge");
  const { stdout } = await ip("-4", "-o", "addr", "show", "dev", layout.bridge);
  if (!stdout.includes(` ${layout.gateway}/`))
    await ip("addr", "add", `${layout.gateway}/24`, "dev", layout.bridge);
  await ip("link", "set", layout.bridge, "up");
}

function throttleProcess(
  paths: ClusterPaths,
  target: number,
  listen: number,
  bytesPerSecond: number,
): ProcessSpec {
  return {
    name: "registry-throttle",
    command: process.execPath,
    args: [
      THROTTLE_PROXY,
      `--listen=${listen}`,
      `--target=${target}`,
      `--bytes-per-second=${bytesPerSecond}`,
      `--plane=${paths.root}`,
    ],
  };
}

async function startAndWait(
  paths: ClusterPaths,
  spec: ProcessSpec,
  healthUrl: string,
  log: Progress,
  tls?: TlsClient,
): Promise<void> {
  const pid = await startProcess(paths, spec);
  const logFile = join(paths.logs, `${spec.name}.log`);
  await waitUntil(async () => ((await isHealthy(healthUrl, tls)) ? true : undefined), {
    what: `${spec.name} to answer ${healthUrl} (log: ${logFile})`,
    timeoutMs: 90_000,
    stillPossible: async () => {
      if (!(await isOurProcess(pid, paths))) {
        const tail = (await readFile(logFile, "utf8")).trimEnd().split("\n").slice(-20).join("\n");
        throw new Error(`${spec.name} exited during start-up; last lines of ${logFile}:\n${tail}`);
      }
    },
  });
  log(`${spec.name} healthy (pid ${pid})`);
}

export function crictlArgs(layout: RealNodeLayout, ...args: string[]): string[] {
  return [
    `--runtime-endpoint=unix://${layout.containerdSocket}`,
    `--image-endpoint=unix://${layout.containerdSocket}`,
    ...args,
  ];
}

/** crictl against the node's containerd; resolves with stdout. */
export async function crictl(binDir: string, layout: RealNodeLayout, ...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(join(binDir, "crictl"), crictlArgs(layout, ...args), {
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

async function criReady(binDir: string, layout: RealNodeLayout): Promise<boolean> {
  if (!existsSync(layout.containerdSocket)) return false;
  try {
    await execFileAsync(join(binDir, "crictl"), crictlArgs(layout, "--timeout=5s", "version"));
    return true;
  } catch {
    return false;
  }
}

/**
 * The kubelet refuses a cgroup root that does not exist. cpuset children start with no CPUs or
 * memory nodes in cgroup v1, so copy the parent's.
 */
async function createCgroupRoot(layout: RealNodeLayout): Promise<void> {
  for (const hierarchy of await readdir("/sys/fs/cgroup")) {
    const parent = join("/sys/fs/cgroup", hierarchy);
    if (!existsSync(join(parent, "cgroup.procs"))) continue;
    const dir = join(parent, layout.cgroupRoot);
    await mkdir(dir, { recursive: true });
    if (hierarchy === "cpuset")
      for (const file of ["cpuset.cpus", "cpuset.mems"])
        await writeFile(join(dir, file), await readFile(join(parent, file)));
  }
}

/**
 * Takes the real node out of the cluster as a node leaving it would: its kubelet and kube-proxy
 * stopped and its Node deleted (containerd, its images and running containers stay; so do
 * kube-proxy's rules until it syncs again). `joinRealNode` brings it back. kube-proxy goes too
 * because it exits by itself once its Node is deleted (its node manager's rule).
 */
export async function leaveRealNode(paths: ClusterPaths, core: CoreV1Api): Promise<void> {
  for (const name of ["kube-proxy", "kubelet"]) {
    const pid = await readPid(paths, name);
    if (pid !== undefined && (await isOurProcess(pid, paths))) await stopProcess(pid, paths);
  }
  await core.deleteNode({ name: REAL_NODE_NAME }).catch(() => undefined);
  await waitUntil(
    async () =>
      (await core.readNode({ name: REAL_NODE_NAME }).then(
        () => false,
        () => true,
      ))
        ? true
        : undefined,
    { what: `node ${REAL_NODE_NAME} deleted`, timeoutMs: 30_000 },
  );
}

/**
 * Starts the kubelet again: it registers a new Node, with `extraTaints` besides its own; then
 * kube-proxy, which reads its addresses from that Node.
 */
export async function joinRealNode(
  paths: ClusterPaths,
  binDir: string,
  state: RealNodeState,
  core: CoreV1Api,
  extraTaints: readonly { key: string; value?: string; effect: string }[],
  log: Progress,
): Promise<void> {
  const layout = realNodeLayout(paths);
  await startAndWait(
    paths,
    kubeletProcess(binDir, layout, extraTaints),
    `http://127.0.0.1:${state.ports.kubeletHealthz}/healthz`,
    log,
  );
  await waitUntil(
    async () => {
      const node = await core.readNode({ name: REAL_NODE_NAME }).catch(() => undefined);
      return node && isReady(node) ? true : undefined;
    },
    { what: `node ${REAL_NODE_NAME} Ready again`, timeoutMs: 120_000, intervalMs: 250 },
  );
  await startAndWait(
    paths,
    kubeProxyProcess(binDir, layout),
    `http://127.0.0.1:${state.ports.kubeProxyHealthz}/healthz`,
    log,
  );
}

/** True when the node's processes are alive and answering. */
export async function realNodeHealthy(paths: ClusterPaths, state: RealNodeState): Promise<boolean> {
  for (const name of REAL_NODE_PROCESSES) {
    const pid = await readPid(paths, name);
    if (pid === undefined || !(await isOurProcess(pid, paths))) return false;
  }
  return isHealthy(`http://127.0.0.1:${state.ports.kubeletHealthz}/healthz`);
}

/** Stops the node and removes what it put on the host; works from the paths alone (a killed run has no state). */
export async function stopRealNode(
  paths: ClusterPaths,
  binDir: string | undefined,
  log: Progress,
): Promise<void> {
  const layout = realNodeLayout(paths);
  const stopped: string[] = [];
  const stop = async (name: string) => {
    const pid = await readPid(paths, name);
    if (pid !== undefined && (await isOurProcess(pid, paths))) {
      await stopProcess(pid, paths);
      stopped.push(name);
    }
    await removePidFile(paths, name);
  };
  await stop("coredns");
  await stop("kube-proxy");
  await stop("kubelet");
  if (binDir !== undefined) await removeAllPods(join(binDir, "crictl"), layout);
  await stop("containerd");
  // Shims outlive containerd by design; once their containers are gone they have nothing to keep.
  for (const pid of await findOurProcesses(paths, "containerd-shim-runc-v2"))
    await stopProcess(pid, paths, 2_000);
  await stop("apiserver-forward");
  await stop("registry-throttle");
  await stop("registry");
  await removeCgroups(layout);
  await unmountAll(layout);
  await removeBridge(layout);
  // Last, so that a failure here leaves no process running. Only a plane that ran kube-proxy (its
  // configuration is in this plane's directory) clears the host's kube-proxy rules: they are
  // host-wide, and a plane without a real node must not touch them.
  if (binDir !== undefined && existsSync(layout.kubeProxyConfig)) await cleanUpKubeProxyRules(binDir);
  const left = await leftovers(layout);
  if (left.length > 0) log(`real node: could not remove ${left.join(", ")}`);
  else if (stopped.length > 0)
    log(`real node: stopped ${stopped.join(", ")}; no mounts, cgroups, bridge or kube-proxy rules left`);
}

export type RealNodeDaemon = "containerd" | "kubelet";

export interface DaemonRestart {
  /** SIGTERM: a `systemctl restart`; SIGKILL: a crash the service manager recovers from. */
  signal: "SIGTERM" | "SIGKILL";
  /** How long the daemon stays down before it starts again (the fault's length). */
  downMs: number;
}

/**
 * Restarts one of the node's daemons in place: containerd (its shims and containers keep running,
 * as with systemd's KillMode=process) or the kubelet (its Node object stays). Resolves once the
 * restarted daemon answers again (the CRI, or the kubelet's healthz).
 */
export async function restartRealNodeDaemon(
  paths: ClusterPaths,
  binDir: string,
  state: RealNodeState,
  daemon: RealNodeDaemon,
  restart: DaemonRestart,
): Promise<void> {
  const layout = realNodeLayout(paths);
  const pid = await readPid(paths, daemon);
  if (pid === undefined || !(await isOurProcess(pid, paths)))
    throw new Error(`${daemon} of the real node is not running (no live pid in ${paths.pids})`);
  process.kill(pid, restart.signal);
  await waitUntil(async () => ((await isOurProcess(pid, paths)) ? undefined : true), {
    what: `${daemon} (pid ${pid}) to exit after ${restart.signal}`,
    timeoutMs: 30_000,
    intervalMs: 50,
  });
  await new Promise((resolve) => setTimeout(resolve, restart.downMs));
  if (daemon === "containerd") {
    await startProcess(paths, containerdProcess(binDir, layout));
    await waitUntil(async () => ((await criReady(binDir, layout)) ? true : undefined), {
      what: `containerd to answer again on ${layout.containerdSocket} (log: ${join(paths.logs, "containerd.log")})`,
      timeoutMs: 60_000,
    });
  } else {
    await startAndWait(
      paths,
      kubeletProcess(binDir, layout),
      `http://127.0.0.1:${state.ports.kubeletHealthz}/healthz`,
      silentProgress(),
    );
  }
}
