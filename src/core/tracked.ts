// Which persisted workloads the reconciler tracks, and what desired state needs of each. Pure: the
// input is what the watches hold.
//
// Tracked = opted in (core/opt-in.ts: its own annotation `prepull: "true"`, else its namespace's
// label `prepull.dev/enabled=true`, else the cluster default; `prepull: "false"` opts it out), in a
// namespace that is not excluded, not being
// deleted, and, for a Job, not finished: a finished Job starts no more pods, so its images need no
// cache (a CronJob keeps its images: it starts new Jobs on schedule), in a namespace the watch
// has seen (its annotations bound the placement: without them prepull could reach further than
// the workload's own pods).
//
// The placement is bounded by what the workload's pods could get (core/placement-bounds.ts); a
// workload whose pods the apiserver would reject gets no images, and `notes` says why.
// Pull secrets are those the kubelet would use: the pod template's imagePullSecrets, or when it
// has none, those of its ServiceAccount (the ServiceAccount admission plugin copies them into
// every pod that has none of its own).

import type { TrackedWorkload } from "./desired-state.ts";
import { collectImages } from "./images.ts";
import { type OptInReason, optInReasonOf } from "./opt-in.ts";
import {
  boundPlacement,
  type RuntimeClassScheduling,
  runtimeClassNameOf,
  type TolerationPolicy,
} from "./placement-bounds.ts";
import type { JsonObject, WorkloadKind } from "./workload.ts";
import { isJsonObject, podSpecOf } from "./workload.ts";

/** kube-system never: its pods are the cluster's own, and the webhook is told to skip it too. */
const ALWAYS_EXCLUDED_NAMESPACES: readonly string[] = ["kube-system"];

export interface ObservedWorkload {
  kind: WorkloadKind;
  object: JsonObject;
}

/** A tracked workload with what prepull narrowed or refused on its behalf. */
export interface TrackedView extends TrackedWorkload {
  notes: readonly string[];
  /** Why it is in: its own annotation, its namespace's label, or the cluster default. */
  reason: OptInReason;
}

/** What tracking reads besides the workload itself: the watch caches and the policy. */
export interface TrackingContext {
  excluded: ReadonlySet<string>;
  /** Every namespace not excluded is opted in (PREPULL_CLUSTER_DEFAULT). */
  clusterDefault: boolean;
  /** The namespace's labels; undefined while the namespace is not (yet) in the cache. */
  namespaceLabels(namespace: string): Readonly<Record<string, string>> | undefined;
  /** The namespace's annotations; undefined while the namespace is not (yet) in the cache. */
  namespaceAnnotations(namespace: string): Readonly<Record<string, string>> | undefined;
  /** The scheduling of a RuntimeClass; undefined when it does not exist. */
  runtimeClass(name: string): RuntimeClassScheduling | undefined;
  /** imagePullSecrets names of a ServiceAccount; undefined when unknown (not watched or absent). */
  serviceAccountPullSecrets(namespace: string, name: string): readonly string[] | undefined;
  tolerationPolicy: TolerationPolicy;
}

export function excludedNamespaces(releaseNamespace: string, extra: readonly string[]): ReadonlySet<string> {
  return new Set([...ALWAYS_EXCLUDED_NAMESPACES, releaseNamespace, ...extra]);
}

/** The tracked view of one object, or undefined when prepull should not pre-pull for it. */
export function trackedWorkloadOf(
  observed: ObservedWorkload,
  context: TrackingContext,
): TrackedView | undefined {
  const { excluded } = context;
  const { kind, object } = observed;
  const metadata = isJsonObject(object.metadata) ? object.metadata : {};
  const namespace = typeof metadata.namespace === "string" ? metadata.namespace : "";
  const name = typeof metadata.name === "string" ? metadata.name : "";
  if (namespace === "" || name === "" || excluded.has(namespace)) return undefined;
  if (metadata.deletionTimestamp !== undefined && metadata.deletionTimestamp !== null) return undefined;
  const reason = optInReasonOf(object, {
    namespace,
    namespaceLabels: context.namespaceLabels(namespace),
    excluded,
    clusterDefault: context.clusterDefault,
  });
  if (reason === undefined) return undefined;
  if (kind === "Job" && isFinishedJob(object)) return undefined;
  const podSpec = podSpecOf(kind, object);
  if (podSpec === undefined) return undefined;
  const namespaceAnnotations = context.namespaceAnnotations(namespace);
  if (namespaceAnnotations === undefined) return undefined;
  const runtimeClassName = runtimeClassNameOf(podSpec);
  const bounded = boundPlacement({
    podSpec,
    runtimeClass: runtimeClassName === "" ? undefined : context.runtimeClass(runtimeClassName),
    namespaceAnnotations,
    policy: context.tolerationPolicy,
  });
  const key = { kind, namespace, name };
  const pullSecrets = pullSecretsOf(podSpec, namespace, context);
  if (!bounded.schedulable)
    return { key, images: [], placement: EMPTY_PLACEMENT, pullSecrets, notes: bounded.notes, reason };
  return {
    key,
    images: collectImages(podSpec).images.map((image) => image.reference),
    placement: bounded.placement,
    pullSecrets,
    notes: bounded.notes,
    reason,
  };
}

const EMPTY_PLACEMENT = { nodeSelector: {}, nodeSelectorTerms: [], tolerations: [] };

/** The template's imagePullSecrets, else its ServiceAccount's (`default` when unnamed). */
function pullSecretsOf(podSpec: JsonObject, namespace: string, context: TrackingContext): string[] {
  const own = pullSecretNames(podSpec);
  if (own.length > 0) return own;
  const account =
    typeof podSpec.serviceAccountName === "string" && podSpec.serviceAccountName !== ""
      ? podSpec.serviceAccountName
      : "default";
  return [...(context.serviceAccountPullSecrets(namespace, account) ?? [])];
}

/**
 * What about an object matters to desired state: two versions with equal fingerprints give equal
 * desired state, so a watch event that leaves it unchanged (a status update, replicas scaling,
 * prepull's own status annotation) need not trigger a reconcile.
 */
export function fingerprint(tracked: TrackedView | undefined): string {
  return tracked === undefined
    ? ""
    : JSON.stringify([tracked.images, tracked.placement, tracked.pullSecrets, tracked.notes, tracked.reason]);
}

/** imagePullSecrets names of a pod spec or a ServiceAccount (same shape: `[{name}]`). */
export function pullSecretNames(holder: JsonObject): string[] {
  const secrets = holder.imagePullSecrets;
  if (!Array.isArray(secrets)) return [];
  const names = new Set<string>();
  for (const secret of secrets) {
    if (isJsonObject(secret) && typeof secret.name === "string" && secret.name !== "") names.add(secret.name);
  }
  return [...names];
}

function isFinishedJob(job: JsonObject): boolean {
  const status = isJsonObject(job.status) ? job.status : {};
  const conditions = Array.isArray(status.conditions) ? status.conditions : [];
  return conditions.some(
    (c) => isJsonObject(c) && (c.type === "Complete" || c.type === "Failed") && c.status === "True",
  );
}
