// Where a workload's pods can land, reduced to a canonical value: two workloads whose scheduling
// constraints are equivalent get equal placements, hence equal keys, hence one shared DaemonSet.
//
// What counts: nodeSelector (including kubernetes.io/arch and kubernetes.io/os), required node
// affinity, tolerations, and spec.nodeName. What does not: preferred affinity and pod
// (anti-)affinity and topology spread (they rank or spread, a pre-puller should cover every
// candidate node), resources (capacity changes, the node set does not).
//
// Canonical form, and why each rule keeps the node set the same:
// - nodeSelector: string values only, keys sorted.
// - Required terms (ORed): expressions and fields (ANDed) sorted and de-duplicated, values sorted
//   and de-duplicated, Exists/DoesNotExist carry no values; terms sorted and de-duplicated. An
//   empty term matches no node, so it is dropped when a non-empty term exists and kept alone
//   otherwise (a workload that can land nowhere gets a DaemonSet that lands nowhere).
// - spec.nodeName pins the pod to one node: it becomes `metadata.name In [node]` in every term.
// - Tolerations: operator defaults to Equal; Exists drops the value; tolerationSeconds is dropped
//   (it bounds how long a pod stays on a NoExecute-tainted node, not whether it may land there:
//   the pre-puller tolerates such a node for as long as any workload could be put on it).
//   Entries tolerated by another entry (Exists with an empty key tolerates everything) are dropped,
//   then the rest sorted. The NoExecute tolerations of node.kubernetes.io/not-ready and
//   .../unreachable are dropped: the DefaultTolerationSeconds admission plugin gives them to every
//   pod, the DaemonSet controller gives them to every DaemonSet pod, and a node in either state
//   cannot pull anyway — keeping them would split groups that land on exactly the same nodes.
//
// What is not merged (equivalent, yet different keys; only costs an extra DaemonSet): a
// nodeSelector entry and the same `key In [value]` written as required affinity, and logically
// redundant expressions such as `In [a, b]` next to `In [a]`.
import { canonicalJson, compareStrings, sha256Hex } from "./hash.ts";
import type { JsonObject } from "./workload.ts";
import { isJsonObject } from "./workload.ts";

export interface NodeSelectorRequirement {
  key: string;
  /** In, NotIn, Exists, DoesNotExist, Gt, Lt (kept verbatim when unknown). */
  operator: string;
  values: string[];
}

/** Its requirements are ANDed. */
export interface NodeSelectorTerm {
  matchExpressions: NodeSelectorRequirement[];
  matchFields: NodeSelectorRequirement[];
}

/** Absent fields are "" so that equal tolerations compare equal field by field. */
export interface Toleration {
  key: string;
  operator: string;
  value: string;
  effect: string;
}

/** An empty placement means "runs on any untainted node". */
export interface Placement {
  nodeSelector: Record<string, string>;
  /** Required node affinity terms, ORed; empty means no required node affinity. */
  nodeSelectorTerms: NodeSelectorTerm[];
  tolerations: Toleration[];
}

/** The NoExecute taints every pod tolerates by default; see the header. */
const DEFAULT_NO_EXECUTE_KEYS: ReadonlySet<string> = new Set([
  "node.kubernetes.io/not-ready",
  "node.kubernetes.io/unreachable",
]);

const KEY_LENGTH = 16;

/** The placement of a pod spec, canonical. Malformed entries are skipped, never thrown on. */
export function placementOf(podSpec: JsonObject): Placement {
  const nodeName = typeof podSpec.nodeName === "string" && podSpec.nodeName !== "" ? podSpec.nodeName : "";
  let terms = canonicalTerms(requiredTermsOf(podSpec).map(termOf));
  if (nodeName !== "") terms = canonicalTerms(pinToNode(terms, nodeName));
  return {
    nodeSelector: canonicalSelector(stringRecordOf(podSpec.nodeSelector)),
    nodeSelectorTerms: terms,
    tolerations: canonicalTolerations(arrayOf(podSpec.tolerations).filter(isJsonObject).map(tolerationOf)),
  };
}

/** The same placement in canonical form; idempotent, so placements built by hand are safe too. */
export function canonicalPlacement(placement: Placement): Placement {
  return {
    nodeSelector: canonicalSelector(placement.nodeSelector),
    nodeSelectorTerms: canonicalTerms(placement.nodeSelectorTerms),
    tolerations: canonicalTolerations(placement.tolerations),
  };
}

/**
 * A stable key: 16 hex digits (64 bits) of the sha256 of the canonical placement. Fits a label
 * value; equal for equivalent placements on every replica and after every restart.
 */
export function placementKey(placement: Placement): string {
  return sha256Hex(canonicalJson(canonicalPlacement(placement))).slice(0, KEY_LENGTH);
}

function canonicalSelector(selector: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(selector).sort(compareStrings)) {
    const value = selector[key];
    if (typeof value === "string") out[key] = value;
  }
  return out;
}

function requiredTermsOf(podSpec: JsonObject): JsonObject[] {
  const affinity = podSpec.affinity;
  if (!isJsonObject(affinity) || !isJsonObject(affinity.nodeAffinity)) return [];
  const required = affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution;
  if (!isJsonObject(required)) return [];
  return arrayOf(required.nodeSelectorTerms).filter(isJsonObject);
}

function termOf(term: JsonObject): NodeSelectorTerm {
  return {
    matchExpressions: arrayOf(term.matchExpressions).filter(isJsonObject).map(requirementOf),
    matchFields: arrayOf(term.matchFields).filter(isJsonObject).map(requirementOf),
  };
}

function requirementOf(requirement: JsonObject): NodeSelectorRequirement {
  return {
    key: stringOf(requirement.key),
    operator: stringOf(requirement.operator),
    values: arrayOf(requirement.values).filter((v): v is string => typeof v === "string"),
  };
}

function canonicalTerms(terms: readonly NodeSelectorTerm[]): NodeSelectorTerm[] {
  const canonical = terms.map((term) => ({
    matchExpressions: canonicalRequirements(term.matchExpressions),
    matchFields: canonicalRequirements(term.matchFields),
  }));
  const nonEmpty = canonical.filter((t) => t.matchExpressions.length > 0 || t.matchFields.length > 0);
  // Empty terms match no node: irrelevant next to a non-empty term, decisive when alone.
  const kept = nonEmpty.length > 0 || canonical.length === 0 ? nonEmpty : canonical.slice(0, 1);
  return uniqueSorted(kept);
}

function canonicalRequirements(requirements: readonly NodeSelectorRequirement[]): NodeSelectorRequirement[] {
  return uniqueSorted(
    requirements.map((r) => ({
      key: r.key,
      operator: r.operator,
      values:
        r.operator === "Exists" || r.operator === "DoesNotExist"
          ? []
          : [...new Set(r.values)].sort(compareStrings),
    })),
  );
}

function pinToNode(terms: NodeSelectorTerm[], nodeName: string): NodeSelectorTerm[] {
  const pin: NodeSelectorRequirement = { key: "metadata.name", operator: "In", values: [nodeName] };
  if (terms.length === 0) return [{ matchExpressions: [], matchFields: [pin] }];
  // A lone empty term matches no node, and ANDing the pin does not change that.
  const onlyEmpty = terms.every((t) => t.matchExpressions.length === 0 && t.matchFields.length === 0);
  if (onlyEmpty) return terms;
  return terms.map((t) => ({ matchExpressions: t.matchExpressions, matchFields: [...t.matchFields, pin] }));
}

function tolerationOf(toleration: JsonObject): Toleration {
  return {
    key: stringOf(toleration.key),
    operator: stringOf(toleration.operator),
    value: stringOf(toleration.value),
    effect: stringOf(toleration.effect),
  };
}

/**
 * The tolerations of a pod spec, normalised (operator defaulted, Exists without value, the default
 * NoExecute ones dropped, sorted and de-duplicated) but not reduced: one covered by a wider one
 * stays, so a filter that removes the wider one (see placement-bounds.ts) keeps the narrower.
 */
export function tolerationsOf(podSpec: JsonObject): Toleration[] {
  return normalisedTolerations(arrayOf(podSpec.tolerations).filter(isJsonObject).map(tolerationOf));
}

function normalisedTolerations(tolerations: readonly Toleration[]): Toleration[] {
  return uniqueSorted(
    tolerations
      .map((t) => {
        const operator = t.operator === "" ? "Equal" : t.operator;
        return { key: t.key, operator, value: operator === "Exists" ? "" : t.value, effect: t.effect };
      })
      .filter((t) => !isDefaultToleration(t)),
    // By key first, for readable manifests; the tuple covers every field, so it is an identity.
    (t) => JSON.stringify([t.key, t.operator, t.value, t.effect]),
  );
}

function canonicalTolerations(tolerations: readonly Toleration[]): Toleration[] {
  const normalised = normalisedTolerations(tolerations);
  // Distinct canonical tolerations never tolerate each other both ways, so this keeps exactly
  // the maximal ones whatever the input order.
  return normalised.filter(
    (candidate) => !normalised.some((other) => other !== candidate && covers(other, candidate)),
  );
}

function isDefaultToleration(t: Toleration): boolean {
  if (!DEFAULT_NO_EXECUTE_KEYS.has(t.key)) return false;
  if (t.effect !== "NoExecute" && t.effect !== "") return false;
  return t.operator === "Exists" || (t.operator === "Equal" && t.value === "");
}

/**
 * Whether every taint `b` tolerates is also tolerated by `a` (the apiserver's isSuperset, used
 * by PodTolerationRestriction to check a toleration against a namespace's whitelist).
 */
export function covers(a: Toleration, b: Toleration): boolean {
  if (a.key !== "" && a.key !== b.key) return false;
  if (a.effect !== "" && a.effect !== b.effect) return false;
  if (a.operator === "Exists") return true;
  return a.operator === "Equal" && b.operator === "Equal" && a.key === b.key && a.value === b.value;
}

/** De-duplicated by `identity`, sorted by it: the identity is also the order. */
function uniqueSorted<T>(items: readonly T[], identity: (item: T) => string = canonicalJson): T[] {
  const byIdentity = new Map<string, T>();
  for (const item of items) byIdentity.set(identity(item), item);
  return [...byIdentity.keys()].sort(compareStrings).flatMap((id) => {
    const item = byIdentity.get(id);
    return item === undefined ? [] : [item];
  });
}

function arrayOf(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function stringOf(value: unknown): string {
  return typeof value === "string" ? value : "";
}

function stringRecordOf(value: unknown): Record<string, string> {
  if (!isJsonObject(value)) return {};
  const out: Record<string, string> = {};
  for (const [key, inner] of Object.entries(value)) if (typeof inner === "string") out[key] = inner;
  return out;
}
