// Bounds a workload's placement by what its own pods could get, so that a DaemonSet prepull runs
// in its own namespace never reaches a node the tenant's pods could not. Pure: the namespace's
// annotations, the RuntimeClass and the administrator's policy come in as values.
//
// Kubernetes facts folded in, in the order the apiserver applies them to a new pod:
// - PodNodeSelector admission: the namespace annotation `scheduler.alpha.kubernetes.io/node-selector`
//   ("k=v,k2=v2") is merged into the pod's nodeSelector; a key with a different value is a
//   conflict and the pod is rejected.
// - PodTolerationRestriction admission: on CREATE, `scheduler.alpha.kubernetes.io/defaultTolerations`
//   (a JSON array) is merged into the pod's tolerations; then every toleration must be covered by
//   an entry of `scheduler.alpha.kubernetes.io/tolerationsWhitelist` when that list is non-empty.
//   The apiserver rejects the whole pod; prepull drops the tolerations outside the list (its
//   DaemonSet then covers fewer nodes, never more) and says so on the workload.
// - RuntimeClass admission: `runtimeClassName` adds the RuntimeClass's scheduling.nodeSelector
//   (a conflicting key rejects the pod) and scheduling.tolerations; a missing RuntimeClass
//   rejects the pod. These tolerations are checked against the whitelist too (validation runs
//   after every mutating plugin).
// Cluster-wide defaults of those plugins live in the apiserver's admission configuration file,
// which no API exposes: only the namespace annotations are known, and they are applied whether
// or not the plugins are enabled (at worst prepull covers fewer nodes than it could).
//
// Last, the administrator's policy: which taint keys prepull may tolerate at all. A toleration
// without a key and with operator Exists tolerates every taint, control-plane taints included; it
// never passes through as is. With a list of tolerated keys it becomes one Exists toleration per
// listed key; with "*" (any key) it is dropped, since "every key except these" cannot be written
// as tolerations.
import type { Placement, Toleration } from "./placement.ts";
import { canonicalPlacement, covers, placementOf, tolerationsOf } from "./placement.ts";
import type { JsonObject } from "./workload.ts";
import { isJsonObject } from "./workload.ts";

const NODE_SELECTOR_ANNOTATION = "scheduler.alpha.kubernetes.io/node-selector";
const DEFAULT_TOLERATIONS_ANNOTATION = "scheduler.alpha.kubernetes.io/defaultTolerations";
const TOLERATIONS_WHITELIST_ANNOTATION = "scheduler.alpha.kubernetes.io/tolerationsWhitelist";

/** Taint keys of control-plane nodes (`master` is the pre-1.24 name, still found on old clusters). */
const CONTROL_PLANE_TAINT_KEYS: readonly string[] = [
  "node-role.kubernetes.io/control-plane",
  "node-role.kubernetes.io/master",
];

const ANY_TAINT_KEY = "*";

export interface TolerationPolicy {
  /** Taint keys prepull may tolerate; `*` allows any key that is not in `neverTolerated`. */
  tolerated: readonly string[];
  /** Taint keys prepull never tolerates, whatever a workload asks. */
  neverTolerated: readonly string[];
}

export const DEFAULT_TOLERATION_POLICY: TolerationPolicy = {
  tolerated: [ANY_TAINT_KEY],
  neverTolerated: CONTROL_PLANE_TAINT_KEYS,
};

/** The scheduling part of a node.k8s.io/v1 RuntimeClass. */
export interface RuntimeClassScheduling {
  nodeSelector: Record<string, string>;
  tolerations: Toleration[];
}

export interface PlacementBoundsInput {
  /** The workload's pod template spec. */
  podSpec: JsonObject;
  /** The RuntimeClass named by the pod spec's runtimeClassName; undefined when none exists. */
  runtimeClass: RuntimeClassScheduling | undefined;
  /** Annotations of the workload's namespace. */
  namespaceAnnotations: Readonly<Record<string, string>>;
  policy: TolerationPolicy;
}

/**
 * `schedulable: false` when the workload's pods would be rejected at admission (conflicting node
 * selectors, a missing RuntimeClass, an annotation the apiserver cannot parse): nothing to pre-pull.
 * `notes` says what was dropped or narrowed, one short sentence each, for the status and an Event.
 */
export type BoundedPlacement =
  | { schedulable: true; placement: Placement; notes: string[] }
  | { schedulable: false; notes: string[] };

export function boundPlacement(input: PlacementBoundsInput): BoundedPlacement {
  const { namespaceAnnotations: annotations, podSpec } = input;
  const own = placementOf(podSpec);
  const runtimeClassName = runtimeClassNameOf(podSpec);
  const notes: string[] = [];
  const unschedulable = (note: string): BoundedPlacement => ({ schedulable: false, notes: [note] });

  let nodeSelector = { ...own.nodeSelector };
  const namespaceSelector = annotations[NODE_SELECTOR_ANNOTATION];
  if (namespaceSelector !== undefined) {
    const parsed = parseSelector(namespaceSelector);
    if (parsed === undefined) return unschedulable(`namespace ${NODE_SELECTOR_ANNOTATION} is invalid`);
    const merged = mergeSelectors(nodeSelector, parsed);
    if (typeof merged === "string")
      return unschedulable(`nodeSelector ${merged} conflicts with the namespace's node selector`);
    nodeSelector = merged;
  }

  // Not reduced: a toleration covered by a wider one must survive the wider one being dropped.
  let tolerations = tolerationsOf(podSpec);
  const defaults = annotations[DEFAULT_TOLERATIONS_ANNOTATION];
  if (defaults !== undefined) {
    const parsed = parseTolerations(defaults);
    if (parsed === undefined) return unschedulable(`namespace ${DEFAULT_TOLERATIONS_ANNOTATION} is invalid`);
    tolerations.push(...parsed);
  }

  if (runtimeClassName !== "") {
    const runtimeClass = input.runtimeClass;
    if (runtimeClass === undefined) return unschedulable(`RuntimeClass ${runtimeClassName} does not exist`);
    const merged = mergeSelectors(nodeSelector, runtimeClass.nodeSelector);
    if (typeof merged === "string")
      return unschedulable(`nodeSelector ${merged} conflicts with RuntimeClass ${runtimeClassName}`);
    nodeSelector = merged;
    tolerations.push(...runtimeClass.tolerations);
  }
  tolerations = tolerationsOf({ tolerations: tolerations.map((t) => ({ ...t })) });

  const whitelistText = annotations[TOLERATIONS_WHITELIST_ANNOTATION];
  if (whitelistText !== undefined) {
    const whitelist = parseTolerations(whitelistText);
    if (whitelist === undefined)
      return unschedulable(`namespace ${TOLERATIONS_WHITELIST_ANNOTATION} is invalid`);
    // An empty whitelist restricts nothing (the apiserver's VerifyAgainstWhitelist).
    if (whitelist.length > 0) {
      tolerations = tolerations.filter((t) => {
        const allowed = whitelist.some((w) => covers(w, t));
        if (!allowed)
          notes.push(`toleration ${describeToleration(t)} dropped: not in the namespace's whitelist`);
        return allowed;
      });
    }
  }

  const policed = applyPolicy(tolerations, input.policy);
  notes.push(...policed.notes);
  return {
    schedulable: true,
    placement: canonicalPlacement({
      nodeSelector,
      nodeSelectorTerms: own.nodeSelectorTerms,
      tolerations: policed.tolerations,
    }),
    notes,
  };
}

/** The administrator's policy on tolerations; see the header. */
export function applyPolicy(
  tolerations: readonly Toleration[],
  policy: TolerationPolicy,
): { tolerations: Toleration[]; notes: string[] } {
  const anyKey = policy.tolerated.includes(ANY_TAINT_KEY);
  const never = new Set(policy.neverTolerated);
  const namedKeys = policy.tolerated.filter((key) => key !== ANY_TAINT_KEY && !never.has(key));
  const out: Toleration[] = [];
  const notes: string[] = [];
  for (const t of tolerations) {
    if (t.key === "") {
      // Operator Exists without a key: every taint (canonical form makes a keyless Equal invalid
      // for the apiserver; it cannot occur on a persisted object and would tolerate nothing).
      if (t.operator !== "Exists") continue;
      if (anyKey || namedKeys.length === 0) {
        notes.push(`toleration ${describeToleration(t)} dropped: prepull tolerates named taints only`);
        continue;
      }
      for (const key of namedKeys) out.push({ key, operator: "Exists", value: "", effect: t.effect });
      notes.push(`toleration ${describeToleration(t)} narrowed to ${namedKeys.join(", ")}`);
      continue;
    }
    if (never.has(t.key)) {
      notes.push(`toleration ${describeToleration(t)} dropped: prepull never tolerates ${t.key}`);
      continue;
    }
    if (!anyKey && !policy.tolerated.includes(t.key)) {
      notes.push(`toleration ${describeToleration(t)} dropped: not among prepull's tolerated taints`);
      continue;
    }
    out.push(t);
  }
  return {
    tolerations: canonicalPlacement({ nodeSelector: {}, nodeSelectorTerms: [], tolerations: out })
      .tolerations,
    notes,
  };
}

/** `key=value:Effect`, `key:Effect` (Exists), `every taint` for a keyless Exists. */
function describeToleration(t: Toleration): string {
  const effect = t.effect === "" ? "" : `:${t.effect}`;
  if (t.key === "") return t.effect === "" ? "of every taint" : `of every ${t.effect} taint`;
  return t.operator === "Exists" ? `${t.key}${effect}` : `${t.key}=${t.value}${effect}`;
}

/** The scheduling of a RuntimeClass object (node.k8s.io/v1); absent scheduling is no constraint. */
export function runtimeClassSchedulingOf(runtimeClass: JsonObject): RuntimeClassScheduling {
  const scheduling = isJsonObject(runtimeClass.scheduling) ? runtimeClass.scheduling : {};
  return {
    nodeSelector: placementOf({ nodeSelector: scheduling.nodeSelector }).nodeSelector,
    tolerations: tolerationsOf({ tolerations: scheduling.tolerations }),
  };
}

/** The runtimeClassName of a pod spec, "" when none. */
export function runtimeClassNameOf(podSpec: JsonObject): string {
  return typeof podSpec.runtimeClassName === "string" ? podSpec.runtimeClassName : "";
}

const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/**
 * "k=v,k2=v2" as the apiserver's labels.ConvertSelectorToLabelsMap reads it (blanks around keys
 * and values trimmed, an empty string is no selector); undefined when it is not such a list.
 */
export function parseSelector(text: string): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  if (text.trim() === "") return out;
  for (const pair of text.split(",")) {
    const parts = pair.split("=");
    if (parts.length !== 2) return undefined;
    const key = (parts[0] ?? "").trim();
    const value = (parts[1] ?? "").trim();
    if (!LABEL_KEY.test(key) || !LABEL_VALUE.test(value)) return undefined;
    out[key] = value;
  }
  return out;
}

/** A JSON array of tolerations, canonical; undefined when it is not one. */
export function parseTolerations(text: string): Toleration[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // The apiserver cannot parse it either and rejects the namespace's pods: the caller says so.
    return undefined;
  }
  if (!Array.isArray(parsed) || !parsed.every(isJsonObject)) return undefined;
  return tolerationsOf({ tolerations: parsed });
}

/** The union of two selectors, or the first conflicting `key=value` as a string. */
function mergeSelectors(
  base: Readonly<Record<string, string>>,
  extra: Readonly<Record<string, string>>,
): Record<string, string> | string {
  const out = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const existing = out[key];
    if (existing !== undefined && existing !== value) return `${key}=${existing}`;
    out[key] = value;
  }
  return out;
}
