// Which workload kinds prepull handles, where each keeps its pod template, and whether an object
// has opted in. Pure: the input is a decoded Kubernetes object, never fetched here.

export const OPT_IN_ANNOTATION = "prepull";
const OPT_IN_VALUE = "true";
/** Annotations under this prefix are prepull's own (the images digest, the status). */
export const OWN_ANNOTATION_PREFIX = "prepull.dev/";

export type WorkloadKind = "Deployment" | "StatefulSet" | "Job" | "CronJob";

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

interface KindInfo {
  group: string;
  version: string;
  /** Property path from the object root to its PodTemplateSpec. */
  templatePath: readonly string[];
}

export const WORKLOAD_KINDS: Readonly<Record<WorkloadKind, KindInfo>> = {
  Deployment: { group: "apps", version: "v1", templatePath: ["spec", "template"] },
  StatefulSet: { group: "apps", version: "v1", templatePath: ["spec", "template"] },
  Job: { group: "batch", version: "v1", templatePath: ["spec", "template"] },
  CronJob: { group: "batch", version: "v1", templatePath: ["spec", "jobTemplate", "spec", "template"] },
};

/** The identity the reconciler needs: everything else it reads from its own watch. */
export interface WorkloadKey {
  kind: WorkloadKind;
  namespace: string;
  name: string;
}

export type JsonObject = { [key: string]: unknown };

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The workload kind for a group/version/kind, or undefined when prepull does not handle it. */
export function workloadKindOf(gvk: GroupVersionKind): WorkloadKind | undefined {
  for (const [kind, info] of Object.entries(WORKLOAD_KINDS) as [WorkloadKind, KindInfo][]) {
    if (kind === gvk.kind && info.group === gvk.group && info.version === gvk.version) return kind;
  }
  return undefined;
}

export function annotationsOf(object: JsonObject): Record<string, string> {
  const metadata = object.metadata;
  if (!isJsonObject(metadata) || !isJsonObject(metadata.annotations)) return {};
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata.annotations)) {
    if (typeof value === "string") out[key] = value;
  }
  return out;
}

/** Opted in means the object's own metadata carries `prepull: "true"`, exactly. */
export function isOptedIn(object: JsonObject): boolean {
  return annotationsOf(object)[OPT_IN_ANNOTATION] === OPT_IN_VALUE;
}

/** `prepull: "false"` on the object's own metadata opts it out of its namespace's or the cluster's opt-in. */
export function isOptedOut(object: JsonObject): boolean {
  return annotationsOf(object)[OPT_IN_ANNOTATION] === "false";
}

/** The pod spec of a workload's template, or undefined when the object has none (yet). */
export function podSpecOf(kind: WorkloadKind, object: JsonObject): JsonObject | undefined {
  let node: unknown = object;
  for (const key of WORKLOAD_KINDS[kind].templatePath) {
    if (!isJsonObject(node)) return undefined;
    node = node[key];
  }
  if (!isJsonObject(node) || !isJsonObject(node.spec)) return undefined;
  return node.spec;
}
