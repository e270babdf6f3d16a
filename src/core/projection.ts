// What the reconciler keeps of each watched object: the fields it reads, nothing else. A cache of
// whole objects grows with the cluster (managedFields, last-applied-configuration annotations,
// every container's env and probes), not with the work; the chart gives prepull 256Mi.
//
// Kept for every workload: identity (apiVersion, kind, name, namespace, uid, resourceVersion,
// deletionTimestamp) and prepull's annotations (the opt-in and prepull.dev/*). Kept for every
// workload that does not opt out (`prepull: "false"`), because a namespace label or the cluster
// default (core/opt-in.ts) can bring an unannotated workload in without any change to it: of its pod template spec, what image collection and placement read, and of
// each container its name, image and pull policy; for a Job, its conditions (finished or not).
// A reader that needs another field adds it here.
import {
  annotationsOf,
  isJsonObject,
  isOptedOut,
  type JsonObject,
  OPT_IN_ANNOTATION,
  OWN_ANNOTATION_PREFIX,
  WORKLOAD_KINDS,
  type WorkloadKind,
} from "./workload.ts";

const METADATA_KEPT = [
  "name",
  "namespace",
  "uid",
  "resourceVersion",
  "generation",
  "deletionTimestamp",
] as const;
/** Pod spec fields read by collectImages, placementOf and the pull-secret list. */
const POD_SPEC_KEPT = [
  "nodeSelector",
  "affinity",
  "tolerations",
  "nodeName",
  "imagePullSecrets",
  "runtimeClassName",
  "serviceAccountName",
  "os",
] as const;
const CONTAINER_LISTS = ["initContainers", "containers"] as const;
const CONTAINER_KEPT = ["name", "image", "imagePullPolicy"] as const;

export function workloadProjection(kind: WorkloadKind, object: JsonObject): JsonObject {
  const metadata = projectedMetadata(object);
  const out: JsonObject = { ...pick(object, ["apiVersion", "kind"]), metadata };
  if (isOptedOut(object)) return out;
  const template = WORKLOAD_KINDS[kind].templatePath;
  let node: unknown = object;
  for (const key of template) node = isJsonObject(node) ? node[key] : undefined;
  const spec = isJsonObject(node) && isJsonObject(node.spec) ? node.spec : undefined;
  if (spec !== undefined) setPath(out, [...template, "spec"], projectedPodSpec(spec));
  if (kind === "Job") {
    const status = isJsonObject(object.status) ? object.status : {};
    if (Array.isArray(status.conditions)) out.status = { conditions: status.conditions };
  }
  return out;
}

/** The listed fields that are present; absent ones stay absent rather than become undefined. */
function pick(object: JsonObject, keys: readonly string[]): JsonObject {
  const out: JsonObject = {};
  for (const key of keys) if (object[key] !== undefined) out[key] = object[key];
  return out;
}

function projectedMetadata(object: JsonObject): JsonObject {
  const metadata = isJsonObject(object.metadata) ? object.metadata : {};
  const out = pick(metadata, METADATA_KEPT);
  const annotations = Object.fromEntries(
    Object.entries(annotationsOf(object)).filter(
      ([key]) => key === OPT_IN_ANNOTATION || key.startsWith(OWN_ANNOTATION_PREFIX),
    ),
  );
  if (Object.keys(annotations).length > 0) out.annotations = annotations;
  return out;
}

function projectedPodSpec(spec: JsonObject): JsonObject {
  const out = pick(spec, POD_SPEC_KEPT);
  for (const list of CONTAINER_LISTS) {
    const containers = spec[list];
    if (!Array.isArray(containers)) continue;
    out[list] = containers.map((container: unknown) =>
      isJsonObject(container) ? pick(container, CONTAINER_KEPT) : container,
    );
  }
  return out;
}

function setPath(root: JsonObject, path: readonly string[], value: JsonObject): void {
  let node = root;
  for (const key of path.slice(0, -1)) {
    const next = isJsonObject(node[key]) ? (node[key] as JsonObject) : {};
    node[key] = next;
    node = next;
  }
  const last = path.at(-1);
  if (last !== undefined) node[last] = value;
}
