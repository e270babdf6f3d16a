// The node gate's reconcile for one node: read the watch caches, let the pure decision
// (core/node-gate.ts) say keep or release, and on release remove the taint with a patch that
// touches nothing else. Leader only: a follower does nothing, and the replica that becomes leader
// adds every gated node it finds in its watch cache, so a leader change loses no node.
//
// The result tells the queue when to look again: at the node's deadline while it waits. Any
// change that could release it sooner (its pre-pull pods, the DaemonSets, the node) adds it again
// through the watches.
import {
  type GateDaemonSet,
  type GateDecision,
  type GatePod,
  type GateSettings,
  gateDaemonSetOf,
  gateDecision,
  gateNodeOf,
  taintRemovalPatch,
} from "../core/node-gate.ts";
import type { JsonPatchOperation } from "../core/patch.ts";
import { podViewOf } from "../core/status.ts";
import type { JsonObject } from "../core/workload.ts";
import { isJsonObject } from "../core/workload.ts";
import type { NodeEvent, NodePatchResult } from "../kube/node-writes.ts";
import type { Logger } from "../log.ts";
import type { ReconcileResult } from "./keyed-queue.ts";
import type { NodeGateMetrics } from "./node-gate-metrics.ts";

/** Reason of the Warning Event on a node released at its deadline. */
export const GATE_DEADLINE_REASON = "PrepullNodeGateDeadline";

/** After a `test` op failed the node changed under us; the watch brings the new version shortly. */
const CHANGED_RETRY_MS = 1_000;

/** What the gate reads: watch caches in production. */
interface NodeGateView {
  /** Every cache holds a complete list. */
  listed(): boolean;
  node(name: string): JsonObject | undefined;
  daemonSets(): readonly JsonObject[];
  pods(): readonly JsonObject[];
}

/** What the gate writes. */
interface NodeGateWriter {
  patchNode(name: string, operations: readonly JsonPatchOperation[]): Promise<NodePatchResult>;
  recordEvent(node: JsonObject, event: NodeEvent): Promise<void>;
}

export interface NodeGateDeps {
  settings: GateSettings;
  view: NodeGateView;
  writer: NodeGateWriter;
  isLeader: () => boolean;
  metrics: NodeGateMetrics;
  logger: Logger;
  /** Wall-clock epoch milliseconds (deadlines count from the node's creationTimestamp). */
  now?: () => number;
}

export class NodeGate {
  readonly #deps: NodeGateDeps;
  readonly #now: () => number;
  /**
   * node name → uid of the node whose deadline Event this process has recorded, so a retried
   * release does not repeat it (a node re-created under the same name has a new uid).
   */
  readonly #deadlineReported = new Map<string, string>();

  constructor(deps: NodeGateDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
  }

  async reconcile(name: string): Promise<ReconcileResult> {
    const { view, isLeader } = this.#deps;
    // Not listed yet: the first complete list adds every gated node. Not the leader: whoever
    // becomes leader adds them all.
    if (!view.listed() || !isLeader()) return {};
    const object = view.node(name);
    const node = object === undefined ? undefined : gateNodeOf(object);
    if (object === undefined || node === undefined) {
      this.#deadlineReported.delete(name);
      return {};
    }
    const decision = this.decide(object);
    if (decision.action === "none") return {};
    if (decision.action === "wait") return { requeueAfterMs: decision.recheckInMs };
    return this.#release(object, node.createdMs, decision);
  }

  /** The decision for a node object with what the caches hold now. */
  decide(object: JsonObject): GateDecision {
    const node = gateNodeOf(object);
    if (node === undefined) return { action: "none" };
    const daemonSets = this.#deps.view
      .daemonSets()
      .map(gateDaemonSetOf)
      .filter((ds): ds is GateDaemonSet => ds !== undefined);
    // Only this node's pods are read in full: a pod's node is a cheap field to compare.
    const pods = this.#deps.view
      .pods()
      .filter((pod) => isJsonObject(pod.spec) && pod.spec.nodeName === node.name)
      .map(gatePodOf)
      .filter((pod): pod is GatePod => pod !== undefined);
    return gateDecision(node, daemonSets, pods, this.#deps.settings, this.#now());
  }

  async #release(
    object: JsonObject,
    createdMs: number,
    decision: Extract<GateDecision, { action: "release" }>,
  ): Promise<ReconcileResult> {
    const { settings, writer, metrics, logger, isLeader } = this.#deps;
    const name = nameOf(object);
    const operations = taintRemovalPatch(object, settings);
    if (operations === undefined) return {};
    const taint = `${settings.taintKey}:${settings.taintEffect}`;
    const uid = uidOf(object);
    if (decision.outcome === "deadline" && this.#deadlineReported.get(name) !== uid) {
      // Before the patch: if the patch then fails the retry skips this Event, while an Event
      // written after a successful patch could be lost to a crash between the two.
      await writer.recordEvent(object, {
        type: "Warning",
        reason: GATE_DEADLINE_REASON,
        message: `Removed taint ${taint} after the ${settings.deadlineMs / 1000} s deadline; images still missing: ${decision.missing.join(", ")}`,
      });
      this.#deadlineReported.set(name, uid);
    }
    // Leadership may have moved while the Event was written.
    if (!isLeader()) return {};
    const result = await writer.patchNode(name, operations);
    if (result === "changed") {
      logger.debug({ node: name }, "node gate: the node changed since it was read; deciding again");
      return { requeueAfterMs: CHANGED_RETRY_MS };
    }
    if (result === "gone") return {};
    const gatedSeconds = Math.max(0, (this.#now() - createdMs) / 1000);
    metrics.releases.inc({ outcome: decision.outcome });
    metrics.gatedSeconds.observe(gatedSeconds);
    this.#deadlineReported.delete(name);
    logger.info(
      {
        node: name,
        outcome: decision.outcome,
        gatedSeconds,
        daemonSets: decision.targetedBy,
        ...(decision.missing.length > 0 ? { missing: decision.missing } : {}),
      },
      decision.targetedBy.length === 0
        ? "node gate: no pre-pull DaemonSet targets the node; taint removed"
        : `node gate: taint removed (${decision.outcome})`,
    );
    return {};
  }
}

/** A pre-pull pod as the gate sees it: which of its containers' images are on its node. */
function gatePodOf(object: JsonObject): GatePod | undefined {
  const view = podViewOf(object);
  if (view === undefined) return undefined;
  const present = Object.entries(view.presence)
    .filter(([, presence]) => presence.state === "present")
    .map(([container]) => container);
  return { daemonSet: view.daemonSet, nodeName: view.nodeName, images: view.images, present };
}

function nameOf(object: JsonObject): string {
  const metadata = isJsonObject(object.metadata) ? object.metadata : {};
  return typeof metadata.name === "string" ? metadata.name : "";
}

/** The uid, or "" for an object without one. */
function uidOf(object: JsonObject): string {
  const metadata = isJsonObject(object.metadata) ? object.metadata : {};
  return typeof metadata.uid === "string" ? metadata.uid : "";
}
