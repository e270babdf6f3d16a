// Node readiness gating, the pure part: given a node that carries the gating taint, the pre-pull
// DaemonSets and their pods, decide whether to keep the taint, remove it because every image the
// node should hold is there, or remove it because the deadline has passed.
//
// The mechanism is a startup taint: a node joins with it (kubelet --register-with-taints,
// Karpenter startupTaints, a node group's taints), so the scheduler puts no workload pod there;
// prepull's DaemonSets tolerate it, so their pods pull the images; prepull removes it once they
// have. Only NoSchedule/NoExecute taints keep pods away, so the effect is one of those two.
//
// Which DaemonSets target the node is decided from their pod templates (the placement prepull
// wrote there) exactly as the DaemonSet controller decides it (see node-match.ts), leaving out the
// gating taint itself and the transient taints a joining node carries for a while
// (`node.kubernetes.io/not-ready` and the other condition taints of the node lifecycle controller,
// `node.cloudprovider.kubernetes.io/uninitialized` until the cloud controller initialises the
// node): once those lift, the DaemonSet's pod lands there, so they must not make the node look
// untargeted. A node that no DaemonSet targets needs nothing and is released at once.
//
// The deadline counts from the node's creationTimestamp: the moment it registered with its
// startup taint. It is in the Node object, so every replica (a new leader too) computes the same
// one; nothing is remembered between runs.

import { compareStrings } from "./hash.ts";
import { type NodeFacts, placementAdmitsNode, type Taint } from "./node-match.ts";
import type { JsonPatchOperation } from "./patch.ts";
import { type Placement, placementOf, type Toleration } from "./placement.ts";
import { isJsonObject, type JsonObject } from "./workload.ts";

export type GateTaintEffect = "NoSchedule" | "NoExecute";

export const DEFAULT_GATE_TAINT_KEY = "prepull.dev/not-ready";
/**
 * Cluster Autoscaler treats taints under this prefix as temporary: it still counts a node that
 * carries one as ready capacity for the pending pods and does not add yet more nodes meanwhile.
 */
export const AUTOSCALER_IGNORED_TAINT_PREFIX = "ignore-taint.cluster-autoscaler.kubernetes.io/";

export interface GateSettings {
  taintKey: string;
  taintEffect: GateTaintEffect;
  /** Milliseconds after the node's creation when the taint is removed whatever is missing. */
  deadlineMs: number;
}

export interface GateNode extends NodeFacts {
  /** metadata.creationTimestamp in epoch milliseconds. */
  createdMs: number;
}

/** A pre-pull DaemonSet as the gate needs it. */
export interface GateDaemonSet {
  name: string;
  /** Where its pods go, from its pod template. */
  placement: Placement;
  /** container name → image, from its pod template (init containers left out). */
  images: Readonly<Record<string, string>>;
}

/** One pod of a pre-pull DaemonSet, bound to a node. */
export interface GatePod {
  daemonSet: string;
  nodeName: string;
  /** container name → image, from the pod's spec. */
  images: Readonly<Record<string, string>>;
  /** Containers whose image is on the node (running, or past the pull). */
  present: readonly string[];
}

export type GateDecision =
  /** The node does not carry the gating taint: nothing to do. */
  | { action: "none" }
  /** Keep the taint; look again by `recheckInMs` at the latest (the deadline). */
  | { action: "wait"; missing: string[]; targetedBy: string[]; recheckInMs: number }
  /** Remove the taint: `ready` when nothing is missing (or nothing targets the node), else `deadline`. */
  | { action: "release"; outcome: "ready" | "deadline"; missing: string[]; targetedBy: string[] };

/** What the pre-pull pods carry so that they run on a gated node: any value of the gating taint. */
export function gateToleration(settings: Pick<GateSettings, "taintKey" | "taintEffect">): Toleration {
  return { key: settings.taintKey, operator: "Exists", value: "", effect: settings.taintEffect };
}

export function isGateTaint(taint: Taint, settings: Pick<GateSettings, "taintKey" | "taintEffect">): boolean {
  return taint.key === settings.taintKey && taint.effect === settings.taintEffect;
}

/** Taints that lift by themselves as a node joins; see the header. */
function isTransientTaint(taint: Taint): boolean {
  return (
    taint.key.startsWith("node.kubernetes.io/") ||
    taint.key === "node.cloudprovider.kubernetes.io/uninitialized"
  );
}

/** The DaemonSets whose pods should run on the node. */
function daemonSetsTargeting(
  node: NodeFacts,
  daemonSets: readonly GateDaemonSet[],
  settings: Pick<GateSettings, "taintKey" | "taintEffect">,
): GateDaemonSet[] {
  const ignored = (taint: Taint) => isGateTaint(taint, settings) || isTransientTaint(taint);
  return daemonSets.filter((ds) => placementAdmitsNode(ds.placement, node, ignored));
}

/**
 * The images of the targeting DaemonSets that no pod on the node has yet. A pod counts for an
 * image only when its spec runs that image in that container: during a rollout a pod of the
 * previous revision proves nothing about a new image.
 */
function missingImages(
  nodeName: string,
  targeting: readonly GateDaemonSet[],
  pods: readonly GatePod[],
): string[] {
  const present = new Set<string>();
  for (const pod of pods) {
    if (pod.nodeName !== nodeName) continue;
    for (const container of pod.present) {
      const image = pod.images[container];
      if (image !== undefined) present.add(presenceKey(pod.daemonSet, container, image));
    }
  }
  const missing = new Set<string>();
  for (const ds of targeting) {
    for (const [container, image] of Object.entries(ds.images)) {
      if (!present.has(presenceKey(ds.name, container, image))) missing.add(image);
    }
  }
  return [...missing].sort(compareStrings);
}

export function gateDecision(
  node: GateNode,
  daemonSets: readonly GateDaemonSet[],
  pods: readonly GatePod[],
  settings: GateSettings,
  nowMs: number,
): GateDecision {
  if (!node.taints.some((taint) => isGateTaint(taint, settings))) return { action: "none" };
  const targeting = daemonSetsTargeting(node, daemonSets, settings);
  const targetedBy = targeting.map((ds) => ds.name).sort(compareStrings);
  const missing = missingImages(node.name, targeting, pods);
  if (missing.length === 0) return { action: "release", outcome: "ready", missing, targetedBy };
  const recheckInMs = node.createdMs + settings.deadlineMs - nowMs;
  if (recheckInMs <= 0) return { action: "release", outcome: "deadline", missing, targetedBy };
  return { action: "wait", missing, targetedBy, recheckInMs };
}

/**
 * The JSON patch that removes the gating taint and nothing else, or undefined when the node does
 * not carry it. The `test` op makes it fail (HTTP 422) instead of removing the wrong entry if the
 * taints changed since `node` was read; the API server applies a JSON patch to the current object,
 * so without it a concurrent change to the list could shift another taint into that index.
 */
export function taintRemovalPatch(
  node: JsonObject,
  settings: Pick<GateSettings, "taintKey" | "taintEffect">,
): JsonPatchOperation[] | undefined {
  const spec = isJsonObject(node.spec) ? node.spec : {};
  const taints = Array.isArray(spec.taints) ? spec.taints : [];
  const index = taints.findIndex((entry) => isJsonObject(entry) && isGateTaint(taintOf(entry), settings));
  if (index === -1) return undefined;
  const path = `/spec/taints/${index}`;
  return [
    { op: "test", path, value: taints[index] },
    { op: "remove", path },
  ];
}

/** The Node's facts the gate uses; undefined for an object without a name. */
export function gateNodeOf(object: JsonObject): GateNode | undefined {
  const metadata = isJsonObject(object.metadata) ? object.metadata : {};
  if (typeof metadata.name !== "string" || metadata.name === "") return undefined;
  const labels: Record<string, string> = {};
  if (isJsonObject(metadata.labels)) {
    for (const [key, value] of Object.entries(metadata.labels))
      if (typeof value === "string") labels[key] = value;
  }
  const spec = isJsonObject(object.spec) ? object.spec : {};
  const taints = (Array.isArray(spec.taints) ? spec.taints : []).filter(isJsonObject).map(taintOf);
  const created =
    typeof metadata.creationTimestamp === "string" ? Date.parse(metadata.creationTimestamp) : Number.NaN;
  // No parsable creation time (never the case for a stored Node): treat the deadline as passed
  // rather than hold the node for ever.
  return { name: metadata.name, labels, taints, createdMs: Number.isFinite(created) ? created : 0 };
}

/** A pre-pull DaemonSet's name, placement and image containers; undefined without a pod template. */
export function gateDaemonSetOf(object: JsonObject): GateDaemonSet | undefined {
  const metadata = isJsonObject(object.metadata) ? object.metadata : {};
  const spec = isJsonObject(object.spec) ? object.spec : {};
  const template = isJsonObject(spec.template) ? spec.template : {};
  const podSpec = isJsonObject(template.spec) ? template.spec : undefined;
  if (typeof metadata.name !== "string" || podSpec === undefined) return undefined;
  const images: Record<string, string> = {};
  for (const container of Array.isArray(podSpec.containers) ? podSpec.containers : []) {
    if (
      isJsonObject(container) &&
      typeof container.name === "string" &&
      typeof container.image === "string"
    ) {
      images[container.name] = container.image;
    }
  }
  return { name: metadata.name, placement: placementOf(podSpec), images };
}

function taintOf(entry: JsonObject): Taint {
  return {
    key: typeof entry.key === "string" ? entry.key : "",
    value: typeof entry.value === "string" ? entry.value : "",
    effect: typeof entry.effect === "string" ? entry.effect : "",
  };
}

function presenceKey(daemonSet: string, container: string, image: string): string {
  return `${daemonSet}\u0000${container}\u0000${image}`;
}
