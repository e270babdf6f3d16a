// Whether a placement (the scheduling constraints of a pre-pull DaemonSet's pods) admits a node:
// the same three checks the DaemonSet controller makes before it puts a pod on a node
// (pkg/controller/daemon: NodeShouldRunDaemonPod → node name, node affinity, taints).
//
// - nodeSelector: every entry equals the node's label.
// - Required node affinity: the terms are ORed, a term's requirements ANDed; a term with no
//   requirements matches no node (k8s.io/component-helpers/scheduling/corev1/nodeaffinity).
//   matchFields supports only `metadata.name` with In and NotIn, as the API does.
// - Taints: every NoSchedule or NoExecute taint must be tolerated (PreferNoSchedule never keeps a
//   pod away). `ignoredTaint` lets the caller leave out taints that do not decide targeting: the
//   gate's own taint, and the condition taints (`node.kubernetes.io/not-ready`, ...) the node
//   lifecycle controller puts on a node for a while as it joins.
import type { NodeSelectorRequirement, NodeSelectorTerm, Placement, Toleration } from "./placement.ts";

export interface Taint {
  key: string;
  /** "" when absent. */
  value: string;
  effect: string;
}

/** What matching needs of a Node. */
export interface NodeFacts {
  name: string;
  labels: Readonly<Record<string, string>>;
  taints: readonly Taint[];
}

export function placementAdmitsNode(
  placement: Placement,
  node: NodeFacts,
  ignoredTaint: (taint: Taint) => boolean = () => false,
): boolean {
  return (
    selectorMatches(placement.nodeSelector, node.labels) &&
    termsMatch(placement.nodeSelectorTerms, node) &&
    node.taints.every(
      (taint) =>
        !blocksScheduling(taint) ||
        ignoredTaint(taint) ||
        placement.tolerations.some((toleration) => tolerates(toleration, taint)),
    )
  );
}

/** NoSchedule and NoExecute keep untolerating pods off a node; PreferNoSchedule only ranks it lower. */
function blocksScheduling(taint: Taint): boolean {
  return taint.effect === "NoSchedule" || taint.effect === "NoExecute";
}

/** The rules of v1.Toleration.ToleratesTaint. */
export function tolerates(toleration: Toleration, taint: Taint): boolean {
  if (toleration.effect !== "" && toleration.effect !== taint.effect) return false;
  if (toleration.key === "") return toleration.operator === "Exists";
  if (toleration.key !== taint.key) return false;
  if (toleration.operator === "Exists") return true;
  return (toleration.operator === "Equal" || toleration.operator === "") && toleration.value === taint.value;
}

function selectorMatches(selector: Readonly<Record<string, string>>, labels: NodeFacts["labels"]): boolean {
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

function termsMatch(terms: readonly NodeSelectorTerm[], node: NodeFacts): boolean {
  if (terms.length === 0) return true;
  return terms.some(
    (term) =>
      (term.matchExpressions.length > 0 || term.matchFields.length > 0) &&
      term.matchExpressions.every((r) => labelRequirementMatches(r, node.labels)) &&
      term.matchFields.every((r) => fieldRequirementMatches(r, node.name)),
  );
}

function labelRequirementMatches(r: NodeSelectorRequirement, labels: NodeFacts["labels"]): boolean {
  const value = labels[r.key];
  switch (r.operator) {
    case "In":
      return value !== undefined && r.values.includes(value);
    case "NotIn":
      return value === undefined || !r.values.includes(value);
    case "Exists":
      return value !== undefined;
    case "DoesNotExist":
      return value === undefined;
    case "Gt":
    case "Lt":
      return compareIntegers(r, value);
    default:
      // An operator this code does not know matches nothing, as the API would reject it anyway.
      return false;
  }
}

/** Gt and Lt take exactly one integer value and compare the label's value as an integer. */
function compareIntegers(r: NodeSelectorRequirement, value: string | undefined): boolean {
  const bound = r.values.length === 1 ? integerOf(r.values[0]) : undefined;
  const actual = integerOf(value);
  if (bound === undefined || actual === undefined) return false;
  return r.operator === "Gt" ? actual > bound : actual < bound;
}

function integerOf(text: string | undefined): number | undefined {
  if (text === undefined || !/^-?\d+$/.test(text)) return undefined;
  return Number(text);
}

function fieldRequirementMatches(r: NodeSelectorRequirement, nodeName: string): boolean {
  if (r.key !== "metadata.name") return false;
  if (r.operator === "In") return r.values.includes(nodeName);
  if (r.operator === "NotIn") return !r.values.includes(nodeName);
  return false;
}
