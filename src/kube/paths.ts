// The REST paths of every resource prepull reads or writes, built in one place. The apiserver's
// layout: the core group ("") lives under /api/v1, every other group under /apis/<group>/<version>;
// a namespaced resource's collection is .../namespaces/<ns>/<plural>, and without a namespace the
// same plural lists it across all namespaces. Names and namespaces are path segments, so encoded.
import { WORKLOAD_KINDS, type WorkloadKind } from "../core/workload.ts";

interface Resource {
  group: string;
  version: string;
  plural: string;
}

const WORKLOAD_PLURALS: Record<WorkloadKind, string> = {
  Deployment: "deployments",
  StatefulSet: "statefulsets",
  Job: "jobs",
  CronJob: "cronjobs",
};

const RESOURCES = {
  DaemonSet: { group: "apps", version: "v1", plural: "daemonsets" },
  Pod: { group: "", version: "v1", plural: "pods" },
  Secret: { group: "", version: "v1", plural: "secrets" },
  ServiceAccount: { group: "", version: "v1", plural: "serviceaccounts" },
  Event: { group: "", version: "v1", plural: "events" },
  Lease: { group: "coordination.k8s.io", version: "v1", plural: "leases" },
  Node: { group: "", version: "v1", plural: "nodes" },
  Namespace: { group: "", version: "v1", plural: "namespaces" },
  RuntimeClass: { group: "node.k8s.io", version: "v1", plural: "runtimeclasses" },
  TokenReview: { group: "authentication.k8s.io", version: "v1", plural: "tokenreviews" },
  SubjectAccessReview: { group: "authorization.k8s.io", version: "v1", plural: "subjectaccessreviews" },
} as const satisfies Record<string, Resource>;

export type ResourceKind = keyof typeof RESOURCES | WorkloadKind;

function resourceOf(kind: ResourceKind): Resource {
  if (kind in WORKLOAD_PLURALS) {
    const workload = kind as WorkloadKind;
    const { group, version } = WORKLOAD_KINDS[workload];
    return { group, version, plural: WORKLOAD_PLURALS[workload] };
  }
  return RESOURCES[kind as keyof typeof RESOURCES];
}

/**
 * The collection of a kind: in `namespace`, or cluster-wide when it is undefined (every namespace
 * for a namespaced kind; the only collection of a cluster-scoped one such as Node).
 */
export function collectionPath(kind: ResourceKind, namespace?: string): string {
  const { group, version, plural } = resourceOf(kind);
  const root = group === "" ? `/api/${version}` : `/apis/${group}/${version}`;
  return namespace === undefined
    ? `${root}/${plural}`
    : `${root}/namespaces/${encodeURIComponent(namespace)}/${plural}`;
}

/** One object: `namespace` undefined for a cluster-scoped kind. */
export function objectPath(kind: ResourceKind, namespace: string | undefined, name: string): string {
  return `${collectionPath(kind, namespace)}/${encodeURIComponent(name)}`;
}
