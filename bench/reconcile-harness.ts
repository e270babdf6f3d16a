// Shared by the reconciler benchmarks and end-to-end tests: settings for a test release namespace,
// reconciler replicas as child processes (so one can be SIGKILLed), and readers of what the
// reconciler wrote. Nothing here fakes the API: every read goes to the real apiserver.
import { type ChildProcess, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import type { AppsV1Api, CoreV1Api, V1DaemonSet, V1Pod } from "@kubernetes/client-node";
import type { PrepullSettings } from "../src/core/daemonset.ts";
import { DEFAULT_TOLERATION_POLICY } from "../src/core/placement-bounds.ts";
import type { ReconcilerSettings } from "../src/reconcile/settings.ts";

const REPLICA = join(dirname(fileURLToPath(import.meta.url)), "reconcile-replica.ts");

export const MANAGED_SELECTOR = "app.kubernetes.io/managed-by=prepull";

/** Fast timings so failover and catch-up tests finish in seconds. */
export function replicaSettings(
  namespace: string,
  identity: string,
  overrides: Partial<Omit<ReconcilerSettings, "prepull" | "leaderElection">> & {
    prepull?: Partial<PrepullSettings>;
    leaderElection?: Partial<ReconcilerSettings["leaderElection"]>;
  } = {},
): ReconcilerSettings {
  return {
    excludedNamespaces: [],
    clusterDefault: false,
    tolerationPolicy: DEFAULT_TOLERATION_POLICY,
    // The tests and benchmarks read per-image gauges by image name.
    metricsImageNames: true,
    resyncSeconds: 30,
    debounceMs: 200,
    maxDelayMs: 1000,
    statusMinIntervalSeconds: 1,
    ...overrides,
    prepull: {
      namespace,
      sleeperImage: "registry.k8s.io/pause:3.10",
      sleeperPath: "/prepull-sleep",
      maxUnavailable: "100%",
      maxImagesPerDaemonSet: 0,
      mirrorPullSecrets: false,
      resources: { cpu: "100m", memory: "32Mi" },
      podRequests: { cpu: "1m", memory: "16Mi" },
      ...overrides.prepull,
    },
    leaderElection: {
      leaseName: "prepull-reconciler",
      identity,
      leaseDurationSeconds: 6,
      renewPeriodSeconds: 2,
      renewDeadlineSeconds: 4,
      retryPeriodSeconds: 1,
      requestTimeoutSeconds: 2,
      ...overrides.leaderElection,
    },
  };
}

export interface Replica {
  identity: string;
  /** The child process's pid, for reading its memory from /proc. */
  pid: number;
  metricsUrl: string;
  output(): string;
  state(): Promise<{ ready: boolean; leader: boolean }>;
  metrics(): Promise<string>;
  /** process.memoryUsage() of the replica right after a full garbage collection. */
  heap(): Promise<{ rss: number; heapUsed: number; external: number; arrayBuffers: number }>;
  /** SIGKILL: no lease release, no goodbye. */
  kill(): Promise<void>;
  /** SIGTERM: releases the lease. */
  stop(): Promise<void>;
  /** SIGSTOP: the process freezes (timers, sockets and all) until resume(). */
  freeze(): void;
  /** SIGCONT after freeze(). */
  resume(): void;
  /** Whether the process has ended (by itself or by a signal). */
  hasExited(): boolean;
}

export async function spawnReplica(kubeconfig: string, settings: ReconcilerSettings): Promise<Replica> {
  // --expose-gc: GET /heap measures live memory after a full collection.
  const child = spawn(process.execPath, ["--expose-gc", REPLICA], {
    env: { ...process.env, KUBECONFIG: kubeconfig, REPLICA_SETTINGS: JSON.stringify(settings) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    output += chunk;
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const metricsUrl = await new Promise<string>((resolve, reject) => {
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
      const match = /metrics (\S+)/.exec(stdout);
      if (match?.[1] !== undefined) resolve(match[1]);
    });
    void exited.then(() => reject(new Error(`replica exited before listening:\n${output}`)));
  });
  const base = metricsUrl.replace(/\/metrics$/, "");
  const signal = async (child: ChildProcess, name: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(name);
    await exited;
  };
  return {
    identity: settings.leaderElection.identity,
    pid: child.pid ?? 0,
    metricsUrl,
    output: () => output,
    state: async () => {
      const response = await fetch(`${base}/state`);
      const body: unknown = await response.json();
      const record = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
      return { ready: record.ready === true, leader: record.leader === true };
    },
    metrics: async () => (await fetch(metricsUrl)).text(),
    heap: async () => (await (await fetch(`${base}/heap`)).json()) as Awaited<ReturnType<Replica["heap"]>>,
    kill: () => signal(child, "SIGKILL"),
    stop: async () => {
      // A frozen process would never act on SIGTERM.
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGCONT");
      await signal(child, "SIGTERM");
    },
    freeze: () => child.kill("SIGSTOP"),
    resume: () => child.kill("SIGCONT"),
    hasExited: () => child.exitCode !== null || child.signalCode !== null,
  };
}

/** Polls until check returns a value other than undefined; throws naming `what` at the deadline. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 60_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await sleep(intervalMs);
  }
}

export async function ownedDaemonSets(apps: AppsV1Api, namespace: string): Promise<V1DaemonSet[]> {
  return (await apps.listNamespacedDaemonSet({ namespace, labelSelector: MANAGED_SELECTOR })).items;
}

export function imagesOf(daemonSet: V1DaemonSet): string[] {
  return (daemonSet.spec?.template.spec?.containers ?? []).map((c) => c.image ?? "").sort();
}

/** Every image in every owned DaemonSet, sorted, with repeats (an image in two groups counts twice). */
export async function allImages(apps: AppsV1Api, namespace: string): Promise<string[]> {
  return (await ownedDaemonSets(apps, namespace)).flatMap(imagesOf).sort();
}

/** The owned DaemonSet whose containers include `image`, if any. */
export async function daemonSetWith(
  apps: AppsV1Api,
  namespace: string,
  image: string,
): Promise<V1DaemonSet | undefined> {
  return (await ownedDaemonSets(apps, namespace)).find((ds) => imagesOf(ds).includes(image));
}

export async function podsOf(core: CoreV1Api, namespace: string, daemonSet: string): Promise<V1Pod[]> {
  const pods = await core.listNamespacedPod({
    namespace,
    labelSelector: `prepull.dev/daemonset=${daemonSet}`,
  });
  return pods.items.filter((pod) => pod.metadata?.deletionTimestamp === undefined);
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] ?? Number.NaN;
}
