// One reconcile: watched workloads → desired state (pure) → writes (leader only) → status.
//
// Every replica computes desired state and status (so each one's metrics are right); only the
// leader writes, and it re-checks leadership before every single write. Nothing happens until every
// watch cache holds a complete list: acting on a partial view would delete DaemonSets of workloads
// not yet seen.
//
// Mirrored pull Secrets are judged one by one: a tenant's missing, unreadable or wrong-typed
// Secret is reported on that tenant's workloads (status note and Event) and skipped; it never
// stops another tenant's mirrors or DaemonSets. With mirroring off, mirrors left from when it was
// on are deleted once (a deletecollection by prepull's labels, which needs no read access).

import { type DaemonSetManifest, ownedLabels, type PrepullSettings } from "../core/daemonset.ts";
import type { MirroredSecretPlan, TrackedWorkload } from "../core/desired-state.ts";
import { desiredState, workloadId } from "../core/desired-state.ts";
import { withNotes, withReason } from "../core/notes.ts";
import type { OptInReason } from "../core/opt-in.ts";
import {
  computeStatus,
  type DaemonSetView,
  daemonSetViewOf,
  type PodView,
  podViewOf,
} from "../core/status.ts";
import {
  excludedNamespaces,
  type ObservedWorkload,
  type TrackingContext,
  trackedWorkloadOf,
} from "../core/tracked.ts";
import type { JsonObject, WorkloadKey } from "../core/workload.ts";
import { isJsonObject } from "../core/workload.ts";
import type { OwnedObjectApplier } from "../kube/apply.ts";
import type { NamespaceMetadata } from "../kube/namespaces.ts";
import type { SecretRead, SecretStore } from "../kube/secrets.ts";
import type { StatusWriter } from "../kube/status-writer.ts";
import type { Logger } from "../log.ts";
import type { ReconcilerMetrics } from "./metrics.ts";
import type { ReconcilerSettings } from "./settings.ts";
import type { ReconcileResult } from "./trigger.ts";

/** The Secret types the kubelet reads registry credentials from; nothing else is mirrored. */
const PULL_SECRET_TYPES: ReadonlySet<string> = new Set([
  "kubernetes.io/dockerconfigjson",
  "kubernetes.io/dockercfg",
]);

/** One source Secret's outcome: a manifest to apply, a problem to report, or a retryable error. */
type MirrorOutcome =
  | { kind: "mirror"; manifest: JsonObject }
  | { kind: "problem"; note: string }
  | { kind: "retry"; error: unknown };

/** What the reconciler reads; ClusterSources in production. */
export interface ReconcileSources {
  listed(): boolean;
  workloads(): ObservedWorkload[];
  daemonSets(): readonly JsonObject[];
  pods(): readonly JsonObject[];
  secrets(): readonly JsonObject[];
  /** What tracking a workload reads besides the workload (namespaces, RuntimeClasses, policy). */
  trackingContext(): TrackingContext;
  /** A namespace's labels and annotations. */
  namespace(name: string): NamespaceMetadata | undefined;
}

/** The Pod Security label the release namespace should carry, and its value. */
const POD_SECURITY_ENFORCE = "pod-security.kubernetes.io/enforce";

export interface ReconcilerDeps {
  settings: ReconcilerSettings;
  sources: ReconcileSources;
  applier: OwnedObjectApplier;
  statusWriter: StatusWriter;
  secrets: SecretStore;
  isLeader: () => boolean;
  metrics: ReconcilerMetrics;
  logger: Logger;
}

export class Reconciler {
  readonly #deps: ReconcilerDeps;
  readonly #excluded: ReadonlySet<string>;
  /** With mirroring off: whether leftover mirrors have been deleted by this process. */
  #mirrorsCleared = false;
  /** Whether the release namespace's Pod Security label has been looked at. */
  #podSecurityChecked = false;

  constructor(deps: ReconcilerDeps) {
    this.#deps = deps;
    this.#excluded = excludedNamespaces(deps.settings.prepull.namespace, deps.settings.excludedNamespaces);
  }

  /** Runs once; what it returns says when to run again (see trigger.ts). */
  async run(): Promise<ReconcileResult> {
    const { sources, metrics, isLeader } = this.#deps;
    if (!sources.listed()) {
      // Each cache's first list triggers another run.
      metrics.runs.inc({ result: "not_synced" });
      return {};
    }
    if (!this.#podSecurityChecked) this.#checkPodSecurity(sources);
    const end = metrics.duration.startTimer();
    try {
      const result = await this.#reconcile(sources, isLeader);
      metrics.runs.inc({ result: "ok" });
      return result;
    } catch (error) {
      metrics.runs.inc({ result: "error" });
      throw error;
    } finally {
      end();
    }
  }

  async #reconcile(sources: ReconcileSources, isLeader: () => boolean): Promise<ReconcileResult> {
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
    const notes = new Map<string, string[]>();
    const reasons = new Map<string, OptInReason>();
    const context = sources.trackingContext();
    for (const item of observed) {
      const workload = trackedWorkloadOf(item, context);
      if (workload === undefined) {
        const key = keyOf(item);
        if (key !== undefined && !this.#excluded.has(key.namespace))
          untracked.push({ key, object: item.object });
        continue;
      }
      tracked.push(workload);
      live.set(workloadId(workload.key), item.object);
      if (workload.notes.length > 0) notes.set(workloadId(workload.key), [...workload.notes]);
      reasons.set(workloadId(workload.key), workload.reason);
    }
    const desired = desiredState({ workloads: tracked, settings: settings.prepull });
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
      // A source Secret that cannot be read this time fails the run (so it is retried) but holds
      // up nothing else, and its mirror stays; a missing, forbidden or wrong-typed one is a
      // problem of its own workloads only (see #mirroredSecrets).
      if (settings.prepull.mirrorPullSecrets) {
        const { mirrors, keep, retry } = await this.#mirroredSecrets(desired.secrets, tracked, notes);
        failures.push(...retry);
        await attempt(() => applier.apply("Secret", mirrors, sources.secrets(), isLeader));
        // A skipped Secret is not referenced: the kubelet would warn on every pull about it.
        const present = new Set([...mirrors.map(nameOf), ...keep]);
        const daemonSets = desired.daemonSets.map((ds) => withPullSecrets(ds, present, settings.prepull));
        await attempt(() => applier.sync("DaemonSet", daemonSets, sources.daemonSets(), isLeader));
        // A mirror whose source could not be read this time stays as it is until it can.
        const stay = [...mirrors, ...keep.map((name) => ({ metadata: { name } }))];
        await attempt(() => applier.prune("Secret", stay, sources.secrets(), isLeader));
      } else {
        await attempt(() => applier.sync("DaemonSet", desired.daemonSets, sources.daemonSets(), isLeader));
        if (!this.#mirrorsCleared) await attempt(() => this.#clearMirrors());
      }
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
    const statuses = report.workloads.map((status) =>
      withReason(withNotes(status, notes.get(status.id)), reasons.get(status.id)),
    );
    // Its result (a rate-limited change, a retry) asks for the next run when the writing is done.
    const publication = isLeader()
      ? statusWriter.publish({ statuses, live, untracked }, isLeader)
      : undefined;
    lap("status");
    logger.debug(
      { ms: phases, tracked: tracked.length, daemonSets: desired.daemonSets.length },
      "reconciled",
    );
    if (failures.length > 0) throw new AggregateError(failures, "reconcile failed");
    return publication === undefined ? {} : { background: publication };
  }

  /**
   * Warns once when the release namespace does not enforce Pod Security `restricted`: the chart
   * cannot label a namespace Helm creates, and prepull's DaemonSets pass `restricted`, so nothing
   * stops an administrator from enforcing it there.
   */
  #checkPodSecurity(sources: ReconcileSources): void {
    this.#podSecurityChecked = true;
    const namespace = this.#deps.settings.prepull.namespace;
    const level = sources.namespace(namespace)?.labels[POD_SECURITY_ENFORCE];
    if (level !== "restricted")
      this.#deps.logger.warn(
        { namespace, [POD_SECURITY_ENFORCE]: level ?? null },
        `the release namespace does not enforce Pod Security restricted; label it: kubectl label namespace ${namespace} ${POD_SECURITY_ENFORCE}=restricted`,
      );
  }

  /**
   * Copies of the source pull Secrets, as manifests to apply. A source that is missing, not
   * readable (403) or not a registry credential is a problem of its workloads: noted on each of
   * them, skipped, and its mirror pruned. Any other error is retried later, keeping its mirror.
   */
  async #mirroredSecrets(
    plans: readonly MirroredSecretPlan[],
    tracked: readonly TrackedWorkload[],
    notes: Map<string, string[]>,
  ): Promise<{ mirrors: JsonObject[]; keep: string[]; retry: unknown[] }> {
    const outcomes = await Promise.all(plans.map((plan) => this.#mirrorOf(plan)));
    const mirrors: JsonObject[] = [];
    const keep: string[] = [];
    const retry: unknown[] = [];
    for (const [index, outcome] of outcomes.entries()) {
      const plan = plans[index];
      if (plan === undefined) continue;
      if (outcome.kind === "mirror") mirrors.push(outcome.manifest);
      else if (outcome.kind === "retry") {
        keep.push(plan.name);
        retry.push(outcome.error);
      } else {
        const { namespace, name } = plan.source;
        this.#deps.logger.warn(
          { secret: `${namespace}/${name}`, problem: outcome.note },
          "pull secret not mirrored",
        );
        for (const workload of tracked) {
          if (workload.key.namespace !== namespace || !workload.pullSecrets.includes(name)) continue;
          const id = workloadId(workload.key);
          notes.set(id, [...(notes.get(id) ?? []), outcome.note]);
        }
      }
    }
    return { mirrors, keep, retry };
  }

  async #mirrorOf(plan: MirroredSecretPlan): Promise<MirrorOutcome> {
    const { secrets, settings } = this.#deps;
    const { namespace, name } = plan.source;
    let source: SecretRead;
    try {
      source = await secrets.read(namespace, name);
    } catch (error) {
      return { kind: "retry", error };
    }
    if (!source.found && source.reason === "forbidden")
      return { kind: "problem", note: `pull secret ${name} not mirrored: prepull may not read it` };
    // The kubelet then pulls without it, which works with node-level credentials.
    if (!source.found)
      return { kind: "problem", note: `pull secret ${name} not mirrored: it does not exist` };
    const { type, data } = source;
    if (!PULL_SECRET_TYPES.has(type))
      return {
        kind: "problem",
        note: `pull secret ${name} not mirrored: its type ${type} is not a registry credential`,
      };
    return {
      kind: "mirror",
      manifest: {
        apiVersion: "v1",
        kind: "Secret",
        metadata: {
          name: plan.name,
          namespace: settings.prepull.namespace,
          labels: ownedLabels(settings.prepull),
        },
        type,
        data,
      },
    };
  }

  /**
   * Deletes every Secret carrying prepull's labels in the release namespace: mirrors left from
   * when mirroring was on. A deletecollection by label selector needs the `deletecollection` verb
   * only, not read access to the namespace's Secrets.
   */
  async #clearMirrors(): Promise<void> {
    const { secrets, settings, logger } = this.#deps;
    const selector = Object.entries(ownedLabels(settings.prepull))
      .map(([key, value]) => `${key}=${value}`)
      .join(",");
    const deleted = await secrets.deleteLabelled(settings.prepull.namespace, selector);
    this.#mirrorsCleared = true;
    if (deleted > 0) logger.info({ deleted }, "deleted mirrored pull secrets (mirroring is off)");
  }
}

/** The DaemonSet referencing only the mirrors in `present` (and the sleeper's own secrets). */
function withPullSecrets(
  ds: DaemonSetManifest,
  present: ReadonlySet<string>,
  settings: PrepullSettings,
): DaemonSetManifest {
  const spec = ds.spec.template.spec;
  const own = new Set(settings.sleeperPullSecrets ?? []);
  const kept = (spec.imagePullSecrets ?? []).filter(({ name }) => own.has(name) || present.has(name));
  if (kept.length === (spec.imagePullSecrets ?? []).length) return ds;
  const { imagePullSecrets: _dropped, ...rest } = spec;
  const template = {
    ...ds.spec.template,
    spec: kept.length > 0 ? { ...rest, imagePullSecrets: kept } : rest,
  };
  return { ...ds, spec: { ...ds.spec, template } };
}

function nameOf(object: JsonObject): string {
  const metadata = isJsonObject(object.metadata) ? object.metadata : {};
  return typeof metadata.name === "string" ? metadata.name : "";
}

function keyOf(item: ObservedWorkload): WorkloadKey | undefined {
  const metadata = isJsonObject(item.object.metadata) ? item.object.metadata : {};
  if (typeof metadata.namespace !== "string" || typeof metadata.name !== "string") return undefined;
  return { kind: item.kind, namespace: metadata.namespace, name: metadata.name };
}
