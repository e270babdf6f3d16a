// Which persisted workloads the reconciler tracks, and what desired state needs of each. Pure: the
// input is what the watches hold.
//
// Tracked = opted in (annotation `prepull: "true"`), in a namespace that is not excluded, not being
// deleted, and, for a Job, not finished: a finished Job starts no more pods, so its images need no
// cache (a CronJob keeps its images: it starts new Jobs on schedule).

import type { TrackedWorkload } from "../core/desired-state.ts";
import { collectImages } from "../core/images.ts";
import { placementOf } from "../core/placement.ts";
import type { JsonObject, WorkloadKind } from "../core/workload.ts";
import { isJsonObject, isOptedIn, podSpecOf } from "../core/workload.ts";

/** kube-system never: its pods are the cluster's own, and the webhook is told to skip it too. */
export const ALWAYS_EXCLUDED_NAMESPACES: readonly string[] = ["kube-system"];

export interface ObservedWorkload {
  kind: WorkloadKind;
  object: JsonObject;
}

export function excludedNamespaces(releaseNamespace: string, extra: readonly string[]): ReadonlySet<string> {
  return new Set([...ALWAYS_EXCLUDED_NAMESPACES, releaseNamespace, ...extra]);
}

/** The tracked view of one object, or undefined when prepull should not pre-pull for it. */
export function trackedWorkloadOf(
  observed: ObservedWorkload,
  excluded: ReadonlySet<string>,
): TrackedWorkload | undefined {
  const { kind, object } = observed;
  const metadata = isJsonObject(object.metadata) ? object.metadata : {};
  const namespace = typeof metadata.namespace === "string" ? metadata.namespace : "";
  const name = typeof metadata.name === "string" ? metadata.name : "";
  if (namespace === "" || name === "" || excluded.has(namespace)) return undefined;
  if (metadata.deletionTimestamp !== undefined && metadata.deletionTimestamp !== null) return undefined;
  if (!isOptedIn(object)) return undefined;
  if (kind === "Job" && isFinishedJob(object)) return undefined;
  const podSpec = podSpecOf(kind, object);
  if (podSpec === undefined) return undefined;
  return {
    key: { kind, namespace, name },
    images: collectImages(podSpec).images.map((image) => image.reference),
    placement: placementOf(podSpec),
    pullSecrets: pullSecretNames(podSpec),
  };
}

/**
 * What about an object matters to desired state: two versions with equal fingerprints give equal
 * desired state, so a watch event that leaves it unchanged (a status update, replicas scaling,
 * prepull's own status annotation) need not trigger a reconcile.
 */
export function fingerprint(tracked: TrackedWorkload | undefined): string {
  return tracked === undefined
    ? ""
    : JSON.stringify([tracked.images, tracked.placement, tracked.pullSecrets]);
}

function pullSecretNames(podSpec: JsonObject): string[] {
  const secrets = podSpec.imagePullSecrets;
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
