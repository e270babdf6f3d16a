// Helpers for node readiness gating tests: nodes that join with the startup taint, holding and
// releasing their pre-pull pods, and a timeline of what a node went through. Exported for every
// gating test, the KWOK ones here and a real-node one (a real kubelet registering with
// `--register-with-taints=prepull.dev/not-ready=:NoSchedule`) alike: only createKwokNode and
// setNodeCpu are KWOK-specific.
//
// How a KWOK node's pre-pull pod is held "still pulling": kwok runs every pod bound to its nodes
// at once, so the pod must not be bound yet. The test's prepull gives its pre-pull pods a CPU
// request (PREPULL_POD_CPU, carried by the init container; PREPULL_CONTAINER_CPU, the limit, must
// be at least as large) larger than the node's allocatable CPU: the DaemonSet
// controller still creates the pod for the node (it does not check resources) and the scheduler
// leaves it Pending (Insufficient cpu). Raising the node's allocatable CPU lets the scheduler bind
// it; kwok then reports its containers running, which is what the kubelet reports once the image
// is pulled. The workload pods request nothing, so only the taint keeps them off the node.
import { type V1Node, type V1Pod, Watch } from "@kubernetes/client-node";
import { onTestFinished } from "vitest";
import { isApiStatus } from "../../../scripts/cluster/kube-client.ts";
import { createKubeRest } from "../../../src/kube/rest.ts";
import { adminClients } from "./cluster.ts";

/** The default gating taint (PREPULL_NODE_GATE_TAINT, _EFFECT). */
export const GATE_TAINT = { key: "prepull.dev/not-ready", effect: "NoSchedule" } as const;

/** prepull's environment with the gate on; `deadlineSeconds` defaults to 600 (never reached in a test). */
export function gateEnv(
  options: { deadlineSeconds?: number; containerCpu?: string } = {},
): Record<string, string> {
  return {
    PREPULL_NODE_GATE: "on",
    PREPULL_NODE_GATE_DEADLINE_SECONDS: String(options.deadlineSeconds ?? 600),
    ...(options.containerCpu === undefined
      ? {}
      : { PREPULL_POD_CPU: options.containerCpu, PREPULL_CONTAINER_CPU: options.containerCpu }),
  };
}

/** A pre-pull pod CPU request no held node can fit (see the header). */
export const HOLDING_CONTAINER_CPU = "1";
/** Allocatable CPU of a node that holds its pre-pull pods Pending... */
export const HELD_NODE_CPU = "500m";
/** ...and after the "pull" is let through. */
export const FREE_NODE_CPU = "8";

export interface KwokNodeShape {
  name: string;
  labels?: Record<string, string>;
  taints?: { key: string; value?: string; effect: string }[];
  cpu?: string;
}

/** Creates a simulated node (kwok makes it Ready); deleted when the test finishes. */
export async function createKwokNode(shape: KwokNodeShape): Promise<V1Node> {
  const allocatable = { cpu: shape.cpu ?? FREE_NODE_CPU, memory: "32Gi", pods: "110" };
  const node = await adminClients().core.createNode({
    body: {
      apiVersion: "v1",
      kind: "Node",
      metadata: {
        name: shape.name,
        annotations: { "node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake" },
        labels: {
          "kubernetes.io/hostname": shape.name,
          "kubernetes.io/os": "linux",
          "kubernetes.io/arch": "amd64",
          type: "kwok",
          ...shape.labels,
        },
      },
      spec: { taints: shape.taints ?? [] },
      status: { allocatable, capacity: { ...allocatable } },
    },
  });
  onTestFinished(async () => {
    try {
      await adminClients().core.deleteNode({ name: shape.name });
    } catch (error) {
      if (!isApiStatus(error, 404)) throw error;
    }
  });
  return node;
}

/** Sets the node's capacity and allocatable CPU, as a kubelet's status update would. */
export async function setNodeCpu(name: string, cpu: string): Promise<void> {
  await createKubeRest(adminClients().kubeConfig).mergePatch(
    `/api/v1/nodes/${encodeURIComponent(name)}/status`,
    {
      status: { capacity: { cpu }, allocatable: { cpu } },
    },
  );
}

export async function readNode(name: string): Promise<V1Node> {
  return adminClients().core.readNode({ name });
}

export function hasTaint(node: V1Node, taint: { key: string; effect: string } = GATE_TAINT): boolean {
  return (node.spec?.taints ?? []).some((t) => t.key === taint.key && t.effect === taint.effect);
}

function isNodeReady(node: V1Node): boolean {
  return node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

/**
 * Ready, and the node lifecycle controller has lifted its condition taints
 * (`node.kubernetes.io/not-ready`, ...): only the taints the test put there are left.
 */
export function isNodeSettled(node: V1Node): boolean {
  return isNodeReady(node) && !(node.spec?.taints ?? []).some((t) => t.key.startsWith("node.kubernetes.io/"));
}

/** Pods in `namespace` matching `labelSelector` and bound to `nodeName`. */
export async function podsOnNode(
  namespace: string,
  labelSelector: string,
  nodeName: string,
): Promise<V1Pod[]> {
  const pods = await adminClients().core.listNamespacedPod({ namespace, labelSelector });
  return pods.items.filter((pod) => pod.spec?.nodeName === nodeName);
}

/** The pre-pull pod the DaemonSet controller made for `nodeName` (bound or not: its affinity names the node). */
export function isPodFor(pod: V1Pod, nodeName: string): boolean {
  if (pod.spec?.nodeName === nodeName) return true;
  const terms =
    pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  return (terms ?? []).some((term) =>
    (term.matchFields ?? []).some((f) => f.key === "metadata.name" && (f.values ?? []).includes(nodeName)),
  );
}

function condition(
  pod: V1Pod,
  type: string,
): { status?: string; reason?: string; message?: string; lastTransitionTime?: Date } | undefined {
  return pod.status?.conditions?.find((c) => c.type === type);
}

/** The scheduler tried the pod and found no node for it, for a reason whose text includes `why`. */
export function isUnschedulableBecause(pod: V1Pod, why: string): boolean {
  const scheduled = condition(pod, "PodScheduled");
  return (
    scheduled?.status === "False" &&
    scheduled.reason === "Unschedulable" &&
    (scheduled.message ?? "").includes(why)
  );
}

export interface NodeMoment {
  /** Date.now() when the watch delivered the event. */
  at: number;
  ready: boolean;
  gated: boolean;
}

/**
 * Every version of one node the API server sends, with the local time it arrived: when it first
 * was Ready, when it lost the gating taint. Start it before creating the node.
 */
export class NodeTimeline {
  readonly moments: NodeMoment[] = [];
  #abort: AbortController | undefined;

  readonly name: string;

  constructor(name: string) {
    this.name = name;
  }

  async start(): Promise<void> {
    this.#abort = await new Watch(adminClients().kubeConfig).watch(
      "/api/v1/nodes",
      { fieldSelector: `metadata.name=${this.name}` },
      (type: string, node: V1Node) => {
        if (type === "ADDED" || type === "MODIFIED") {
          this.moments.push({ at: Date.now(), ready: isNodeReady(node), gated: hasTaint(node) });
        }
      },
      () => {},
    );
    onTestFinished(() => this.stop());
  }

  stop(): void {
    this.#abort?.abort();
    this.#abort = undefined;
  }

  firstReadyAt(): number | undefined {
    return this.moments.find((m) => m.ready)?.at;
  }

  releasedAt(): number | undefined {
    const firstGated = this.moments.findIndex((m) => m.gated);
    if (firstGated === -1) return undefined;
    return this.moments.slice(firstGated).find((m) => !m.gated)?.at;
  }
}
