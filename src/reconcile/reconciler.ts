// One reconcile: watched workloads → desired state (pure) → writes (leader only) → status.
//
// Every replica computes desired state and status (so each one's metrics are right); only the
// leader writes, and it re-checks leadership before every single write. Nothing happens until every
// watch cache holds a complete list: acting on a partial view would delete DaemonSets of workloads
// not yet seen.

import { ownedLabels } from "../core/daemonset.ts";
import type { DesiredState, MirroredSecretPlan, TrackedWorkload } from "../core/desired-state.ts";
import { desiredState, workloadId } from "../core/desired-state.ts";
import type { JsonObject, WorkloadKey } from "../core/workload.ts";
import { isJsonObject } from "../core/workload.ts";
import type { OwnedObjectApplier } from "../kube/apply.ts";
import type { KubeRest } from "../kube/rest.ts";
import type { StatusWriter } from "../kube/status-writer.ts";
import type { Logger } from "../log.ts";
import type { ReconcilerMetrics } from "./metrics.ts";
import type { ReconcilerSettings } from "./settings.ts";
import { computeStatus, type DaemonSetView, daemonSetViewOf, type PodView, podViewOf } from "./status.ts";
import { excludedNamespaces, type ObservedWorkload, trackedWorkloadOf } from "./tracked.ts";

/** What the reconciler reads; ClusterSources in production. */
export interface ReconcileSources {
  listed(): boolean;
  workloads(): ObservedWorkload[];
  daemonSets(): readonly JsonObject[];
  pods(): readonly JsonObject[];
  secrets(): readonly JsonObject[];
}

export interface ReconcilerDeps {
  settings: ReconcilerSettings;
  sources: ReconcileSources;
  applier: OwnedObjectApplier;
  statusWriter: StatusWriter;
  rest: KubeRest;
  isLeader: () => boolean;
  metrics: ReconcilerMetrics;
  logger: Logger;
}

export class Reconciler {
  readonly #deps: ReconcilerDeps;
  readonly #excluded: ReadonlySet<string>;
  #last: DesiredState | undefined;

  constructor(deps: ReconcilerDeps) {
    this.#deps = deps;
    this.#excluded = excludedNamespaces(deps.settings.prepull.namespace, deps.settings.excludedNamespaces);
  }

  /** The desired state of the latest run, for tests and diagnostics. */
  lastDesired(): DesiredState | undefined {
    return this.#last;
  }

  async run(): Promise<void> {
    const { sources, metrics, isLeader } = this.#deps;
    if (!sources.listed()) {
      // Each cache's first list triggers another run.
      metrics.runs.inc({ result: "not_synced" });
      return;
    }
    const end = metrics.duration.startTimer();
    try {
      await this.#reconcile(sources, isLeader);
      metrics.runs.inc({ result: "ok" });
    } catch (error) {
      metrics.runs.inc({ result: "error" });
      throw error;
    } finally {
      end();
    }
  }

  async #reconcile(sources: ReconcileSources, isLeader: () => boolean): Promise<void> {
    const { settings, applier, statusWriter, metrics, logger } = this.#deps;
    const started = performance.now();
    const phases: Record<string, number> = {};
    const lap = (phase: string) => {
      phases[phase] = Math.round(performance.now() - started);
    };
    const observed = sources.workloads();
    const live = new Map<string, JsonObject>();
    const tracked: TrackedWorkload[] = [];
    const untracked: { key: WorkloadKey; object: JsonObject }[] = [];
    for (const item of observed) {
      const workload = trackedWorkloadOf(item, this.#excluded);
      if (workload === undefined) {
        const key = keyOf(item);
        if (key !== undefined && !this.#excluded.has(key.namespace))
          untracked.push({ key, object: item.object });
        continue;
      }
      tracked.push(workload);
      live.set(workloadId(workload.key), item.object);
    }
    const desired = desiredState({ workloads: tracked, settings: settings.prepull });
    this.#last = desired;
    metrics.trackedWorkloads.set(tracked.length);
    metrics.desiredDaemonSets.set(desired.daemonSets.length);

    const failures: unknown[] = [];
    const attempt = async (step: () => Promise<unknown>) => {
      try {
        await step();
      } catch (error) {
        // Collected, not swallowed: the run fails at the end and the queue retries it.
        failures.push(error);
      }
    };

    lap("desired");
    if (isLeader()) {
      // Secrets first so that a DaemonSet never references a mirror that does not exist yet;
      // stale mirrors go last, after no DaemonSet references them any more.
      // A source Secret that cannot be read fails this run (and so it is retried), but must not
      // hold up the DaemonSets; nor may a partial list of mirrors prune the rest.
      let secrets: JsonObject[] | undefined;
      await attempt(async () => {
        secrets = await this.#mirroredSecrets(desired.secrets);
      });
      const mirrors = secrets;
      if (mirrors !== undefined)
        await attempt(() => applier.apply("Secret", mirrors, sources.secrets(), isLeader));
      await attempt(() => applier.sync("DaemonSet", desired.daemonSets, sources.daemonSets(), isLeader));
      if (mirrors !== undefined)
        await attempt(() => applier.prune("Secret", mirrors, sources.secrets(), isLeader));
    }

    lap("writes");
    const report = computeStatus(
      desired.imagesByWorkload,
      sources
        .daemonSets()
        .map(daemonSetViewOf)
        .filter((v): v is DaemonSetView => v !== undefined),
      sources
        .pods()
        .map(podViewOf)
        .filter((v): v is PodView => v !== undefined),
    );
    metrics.setImageTotals(report.images);

    // In the background: status patches must not hold up the next run's DaemonSet writes.
    if (isLeader()) statusWriter.publish({ statuses: report.workloads, live, untracked }, isLeader);
    lap("status");
    logger.debug(
      { ms: phases, tracked: tracked.length, daemonSets: desired.daemonSets.length },
      "reconciled",
    );
    if (failures.length > 0) throw new AggregateError(failures, "reconcile failed");
  }

  /** Copies of the source pull Secrets, as manifests to apply; a missing source is skipped. */
  async #mirroredSecrets(plans: readonly MirroredSecretPlan[]): Promise<JsonObject[]> {
    const { rest, settings, logger } = this.#deps;
    const sources = await Promise.all(
      plans.map(({ source }) =>
        rest.getOptional(
          `/api/v1/namespaces/${encodeURIComponent(source.namespace)}/secrets/${encodeURIComponent(source.name)}`,
        ),
      ),
    );
    const out: JsonObject[] = [];
    for (const [index, plan] of plans.entries()) {
      const source = sources[index];
      if (source === undefined) {
        // The kubelet then pulls without it, which works with node-level credentials.
        const { namespace, name } = plan.source;
        logger.warn({ secret: `${namespace}/${name}` }, "pull secret to mirror does not exist");
        continue;
      }
      out.push({
        apiVersion: "v1",
        kind: "Secret",
        metadata: {
          name: plan.name,
          namespace: settings.prepull.namespace,
          labels: ownedLabels(settings.prepull),
        },
        type: typeof source.type === "string" ? source.type : "Opaque",
        data: isJsonObject(source.data) ? source.data : {},
      });
    }
    return out;
  }
}

function keyOf(item: ObservedWorkload): WorkloadKey | undefined {
  const metadata = isJsonObject(item.object.metadata) ? item.object.metadata : {};
  if (typeof metadata.namespace !== "string" || typeof metadata.name !== "string") return undefined;
  return { kind: item.kind, namespace: metadata.namespace, name: metadata.name };
}
