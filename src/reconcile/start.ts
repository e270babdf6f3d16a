// The reconciler's composition: the one call main.ts makes when a Kubernetes API is configured.
// Watches start at once on every replica; the leader election decides who writes.
import type { KubeConfig } from "@kubernetes/client-node";
import type { Registry } from "prom-client";
import { ownedLabels } from "../core/daemonset.ts";
import type { ReconcileHandoff } from "../core/handoff.ts";
import { excludedNamespaces } from "../core/tracked.ts";
import { OwnedObjectApplier, type WriteOp } from "../kube/apply.ts";
import { LeaderElector } from "../kube/leader.ts";
import { collectionPath } from "../kube/paths.ts";
import { createKubeRest } from "../kube/rest.ts";
import { cachedSecretStore } from "../kube/secret-cache.ts";
import { restSecretStore } from "../kube/secrets.ts";
import { ClusterSources } from "../kube/sources.ts";
import { StatusWriter } from "../kube/status-writer.ts";
import { ResourceWatch } from "../kube/watch.ts";
import type { Logger } from "../log.ts";
import { createReconcilerMetrics } from "./metrics.ts";
import { Reconciler } from "./reconciler.ts";
import type { ReconcilerSettings } from "./settings.ts";
import { ReconcileTrigger } from "./trigger.ts";

export interface StartReconcilerOptions {
  kubeConfig: KubeConfig;
  settings: ReconcilerSettings;
  registry: Registry;
  logger: Logger;
}

export interface RunningReconciler {
  /** Hand this to admission: enqueue() only marks work, it never waits. */
  queue: ReconcileHandoff;
  /** Every watch has delivered its first complete list. */
  ready(): boolean;
  isLeader(): boolean;
  /** Stops reconciling (waits for a run in progress), releases the lease, closes the watches. */
  stop(): Promise<void>;
}

const WRITE_OPS: readonly WriteOp[] = ["create", "update", "unchanged", "delete"];

export async function startReconciler(options: StartReconcilerOptions): Promise<RunningReconciler> {
  const { kubeConfig, settings, registry } = options;
  const logger = options.logger.child({ component: "reconciler" });
  const namespace = settings.prepull.namespace;
  const labels = ownedLabels(settings.prepull);
  const metrics = createReconcilerMetrics(registry, { imageNames: settings.metricsImageNames });
  const clientOptions = {
    requestTimeoutMs: settings.leaderElection.requestTimeoutSeconds * 1000,
    onRequest: (method: string, outcome: "ok" | "error") => metrics.apiRequests.inc({ method, outcome }),
  };
  // Two connection pools: the Lease's requests, never fenced (acquiring is a write), and never
  // queued behind the writes; and everything else, whose writes leave only while this replica
  // leads (kube/write-fence.ts: checked at the socket, so a frozen leader cannot write on resume).
  const leaseRest = createKubeRest(kubeConfig, clientOptions);
  const rest = createKubeRest(kubeConfig, { ...clientOptions, mayWrite: () => elector.isLeader() });
  for (const op of WRITE_OPS) {
    // Present from the start at 0, so a rate() over them is defined before the first write.
    metrics.daemonSetWrites.inc({ op }, 0);
    metrics.secretWrites.inc({ op }, 0);
  }
  metrics.leader.set(0);

  // Declared before use in callbacks; assigned right below.
  let runs: ReconcileTrigger | undefined;
  const trigger = (urgency: "urgent" | "lazy" = "urgent") => runs?.trigger(urgency);

  const { leaseName, ...timings } = settings.leaderElection;
  const elector = new LeaderElector({
    rest: leaseRest,
    logger,
    settings: { ...timings, namespace, name: leaseName },
    onStartedLeading: () => {
      metrics.leader.set(1);
      trigger();
    },
    onStoppedLeading: () => metrics.leader.set(0),
  });
  const isLeader = () => elector.isLeader();
  // Followers see renewals as they happen, so they take over the moment the lease expires.
  const leaseWatch = new ResourceWatch({
    kubeConfig,
    rest,
    logger,
    path: collectionPath("Lease", namespace),
    fieldSelector: `metadata.name=${leaseName}`,
    onEvent: (type, lease) => elector.observe(type === "delete" ? {} : lease),
  });

  const applier = new OwnedObjectApplier({
    rest,
    namespace,
    ownedLabels: labels,
    logger,
    onWrite: (kind, op) =>
      (kind === "DaemonSet" ? metrics.daemonSetWrites : metrics.secretWrites).inc({ op }),
  });

  const statusWriter = new StatusWriter({
    rest,
    logger,
    identity: settings.leaderElection.identity,
    minIntervalMs: settings.statusMinIntervalSeconds * 1000,
    onStatusWrite: () => metrics.statusWrites.inc(),
    onEvent: (reason) => metrics.events.inc({ reason }),
  });

  const sources = new ClusterSources({
    kubeConfig,
    rest,
    releaseNamespace: namespace,
    excludedNamespaces: excludedNamespaces(namespace, settings.excludedNamespaces),
    clusterDefault: settings.clusterDefault,
    ownedSelector: Object.entries(labels)
      .map(([key, value]) => `${key}=${value}`)
      .join(","),
    watchSecrets: settings.prepull.mirrorPullSecrets,
    tolerationPolicy: settings.tolerationPolicy,
    logger,
    onChange: (_source, urgency) => trigger(urgency),
  });

  const reconciler = new Reconciler({
    settings,
    sources,
    applier,
    statusWriter,
    // A little under the resync interval: the periodic resync always reads every Secret afresh,
    // so a rotated source reaches its mirror within one resync.
    secrets: cachedSecretStore(restSecretStore(rest), {
      maxAgeMs: settings.resyncSeconds * 900,
      now: () => performance.now(),
    }),
    isLeader,
    metrics,
    logger,
  });
  const reconcileTrigger = new ReconcileTrigger({
    run: () => reconciler.run(),
    debounceMs: settings.debounceMs,
    maxDelayMs: settings.maxDelayMs,
    onError: (error, failures) =>
      logger.error({ err: error, failures }, "reconcile failed; retrying with backoff"),
  });
  runs = reconcileTrigger;

  sources.start();
  elector.start();
  leaseWatch.start();
  const resync = setInterval(() => trigger(), settings.resyncSeconds * 1000);
  logger.info(
    { namespace, identity: settings.leaderElection.identity, lease: leaseName },
    "reconciler started",
  );

  return {
    queue: reconcileTrigger,
    ready: () => sources.listed(),
    isLeader,
    async stop() {
      clearInterval(resync);
      await reconcileTrigger.stop();
      await statusWriter.stop();
      await elector.stop();
      await Promise.all([sources.stop(), leaseWatch.stop()]);
      logger.info("reconciler stopped");
    },
  };
}
