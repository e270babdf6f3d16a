// Where each tracked workload's images are present, computed from the pre-pull DaemonSets' pods.
// Pure: the inputs are what the watches hold and the desired image → DaemonSet container mapping.
//
// Evidence of presence is a container status of a DaemonSet pod, never node.status.images (the
// kubelet reports at most 50 images there). A container that is running, has run (terminated), or
// failed after its image was pulled (CrashLoopBackOff, CreateContainerError, ...) proves the image
// is on the node: the kubelet pulls before it creates the container. A container waiting with a
// pull error (ErrImagePull, ImagePullBackOff, ...) is failing, with the kubelet's message.
// A pod counts for an image through the container prepull named for it (img-<hash of the image>),
// never through the image string in the pod: an admission policy that pins digests (Kyverno
// mutateDigest) or rewrites registries changes that string, and the status would stay 0/N for
// ever. The name is enough for rollouts too: a different image gets a different container name,
// so pods of a previous revision prove nothing about a new image.
//
// The init container that installs the sleeper can fail too (wrong architecture, unpullable
// prepull image, OOM): then no container of that pod starts and nothing is pulled. Such nodes are
// reported per workload (`sleeperFailing`), so the status and an Event say why it stays at 0/N.
//
// Eligible nodes = the DaemonSet's status.desiredNumberScheduled (nodes its pods should run on).

import { LABEL_DAEMONSET } from "./daemonset.ts";
import type { WorkloadImages } from "./desired-state.ts";
import type { JsonObject, WorkloadKey } from "./workload.ts";
import { isJsonObject } from "./workload.ts";

const PULL_FAILURE_REASONS: ReadonlySet<string> = new Set([
  "ErrImagePull",
  "ImagePullBackOff",
  "InvalidImageName",
  "ErrImageNeverPull",
  "RegistryUnavailable",
  "SignatureValidationFailed",
]);

/** Waiting reasons the kubelet only reaches after the image is on the node. */
const PULLED_WAITING_REASONS: ReadonlySet<string> = new Set([
  "CrashLoopBackOff",
  "CreateContainerError",
  "CreateContainerConfigError",
  "RunContainerError",
  "PreStartHookError",
  "PostStartHookError",
]);

export interface DaemonSetView {
  name: string;
  desiredNumberScheduled: number;
}

export type ContainerPresence =
  | { state: "present" }
  | { state: "failing"; reason: string; message: string }
  | { state: "pending" };

export interface PodView {
  daemonSet: string;
  nodeName: string;
  /** container name → image, from the pod spec. */
  images: Record<string, string>;
  /** container name → what its status says. */
  presence: Record<string, ContainerPresence>;
  /** An init container that failed (and so blocks every container of the pod). */
  initFailure?: { reason: string; message: string };
}

export interface Failure {
  reason: string;
  /** One kubelet message, as an example. */
  message: string;
  nodes: number;
}

export interface ImageStatus {
  image: string;
  daemonSet: string;
  container: string;
  eligible: number;
  ready: number;
  /** Nodes where the image is not present and its container is in a pull error, by reason. */
  failing: Failure[];
}

export interface WorkloadStatus {
  workload: WorkloadKey;
  id: string;
  images: ImageStatus[];
  /** Nodes where a pre-pull pod of the workload cannot start its containers, by init failure. */
  sleeperFailing: Failure[];
  /** Nodes where every image of the workload is present. */
  readyNodes: number;
  eligibleNodes: number;
  summary: string;
  /** What prepull narrowed or refused for this workload (placement bounds, pull secrets). */
  notes?: readonly string[];
}

export interface ImageTotals {
  image: string;
  ready: number;
  eligible: number;
  failing: number;
}

export interface StatusReport {
  workloads: WorkloadStatus[];
  images: ImageTotals[];
}

export function daemonSetViewOf(object: JsonObject): DaemonSetView | undefined {
  const metadata = isJsonObject(object.metadata) ? object.metadata : {};
  if (typeof metadata.name !== "string") return undefined;
  const status = isJsonObject(object.status) ? object.status : {};
  const desired = typeof status.desiredNumberScheduled === "number" ? status.desiredNumberScheduled : 0;
  return { name: metadata.name, desiredNumberScheduled: desired };
}

export function podViewOf(object: JsonObject): PodView | undefined {
  const metadata = isJsonObject(object.metadata) ? object.metadata : {};
  const labels = isJsonObject(metadata.labels) ? metadata.labels : {};
  const daemonSet = labels[LABEL_DAEMONSET];
  const spec = isJsonObject(object.spec) ? object.spec : {};
  const nodeName = spec.nodeName;
  if (typeof daemonSet !== "string" || typeof nodeName !== "string" || nodeName === "") return undefined;
  if (metadata.deletionTimestamp !== undefined && metadata.deletionTimestamp !== null) return undefined;
  const images: Record<string, string> = {};
  for (const container of Array.isArray(spec.containers) ? spec.containers : []) {
    if (
      isJsonObject(container) &&
      typeof container.name === "string" &&
      typeof container.image === "string"
    ) {
      images[container.name] = container.image;
    }
  }
  const status = isJsonObject(object.status) ? object.status : {};
  const presence: Record<string, ContainerPresence> = {};
  for (const containerStatus of Array.isArray(status.containerStatuses) ? status.containerStatuses : []) {
    if (isJsonObject(containerStatus) && typeof containerStatus.name === "string") {
      presence[containerStatus.name] = presenceOf(containerStatus);
    }
  }
  let initFailure: PodView["initFailure"];
  for (const initStatus of Array.isArray(status.initContainerStatuses) ? status.initContainerStatuses : []) {
    if (!isJsonObject(initStatus) || initFailure !== undefined) continue;
    const failure = initFailureOf(initStatus);
    if (failure !== undefined) {
      const name = typeof initStatus.name === "string" ? initStatus.name : "init";
      initFailure = { reason: `${name} ${failure.reason}`, message: failure.message };
    }
  }
  return { daemonSet, nodeName, images, presence, ...(initFailure === undefined ? {} : { initFailure }) };
}

/**
 * Why an init container keeps its pod from starting, or undefined while it runs, waits normally
 * or has succeeded. Terminated with a non-zero exit (OOMKilled, Error, StartError for a binary of
 * the wrong architecture), or waiting for a reason the kubelet only gives a failing container
 * (ErrImagePull, CrashLoopBackOff ...): a crash loop names the last termination's reason too.
 */
export function initFailureOf(containerStatus: JsonObject): { reason: string; message: string } | undefined {
  const state = isJsonObject(containerStatus.state) ? containerStatus.state : {};
  if (isJsonObject(state.terminated)) {
    const { exitCode, reason, message } = state.terminated;
    if (exitCode === 0) return undefined;
    return {
      reason: typeof reason === "string" && reason !== "" ? reason : `exit code ${String(exitCode)}`,
      message: typeof message === "string" ? message : "",
    };
  }
  if (!isJsonObject(state.waiting)) return undefined;
  const reason = typeof state.waiting.reason === "string" ? state.waiting.reason : "";
  if (!PULL_FAILURE_REASONS.has(reason) && !PULLED_WAITING_REASONS.has(reason)) return undefined;
  const last = isJsonObject(containerStatus.lastState) ? containerStatus.lastState : {};
  const lastReason =
    isJsonObject(last.terminated) && typeof last.terminated.reason === "string" ? last.terminated.reason : "";
  return {
    reason: lastReason === "" ? reason : `${reason} (${lastReason})`,
    message: typeof state.waiting.message === "string" ? state.waiting.message : "",
  };
}

export function presenceOf(containerStatus: JsonObject): ContainerPresence {
  const state = isJsonObject(containerStatus.state) ? containerStatus.state : {};
  if (containerStatus.ready === true || isJsonObject(state.running) || isJsonObject(state.terminated)) {
    return { state: "present" };
  }
  if (isJsonObject(state.waiting)) {
    const reason = typeof state.waiting.reason === "string" ? state.waiting.reason : "";
    const message = typeof state.waiting.message === "string" ? state.waiting.message : "";
    if (PULL_FAILURE_REASONS.has(reason)) return { state: "failing", reason, message };
    if (PULLED_WAITING_REASONS.has(reason)) return { state: "present" };
  }
  return { state: "pending" };
}

interface ImageNodes {
  ready: Set<string>;
  /** node → failure, only for nodes where the image is not ready. */
  failing: Map<string, { reason: string; message: string }>;
  /** node → init container failure, only for nodes where the image is not ready. */
  blocked: Map<string, { reason: string; message: string }>;
  /** Nodes that run a pod of the DaemonSet holding this image. */
  seen: Set<string>;
}

/** Per (DaemonSet, container name): which nodes have its image and which fail to pull it. */
function nodesOf(pods: readonly PodView[]): Map<string, ImageNodes> {
  const out = new Map<string, ImageNodes>();
  for (const pod of pods) {
    for (const container of Object.keys(pod.images)) {
      const key = locationKey(pod.daemonSet, container);
      const entry = out.get(key) ?? {
        ready: new Set<string>(),
        failing: new Map(),
        blocked: new Map(),
        seen: new Set<string>(),
      };
      out.set(key, entry);
      entry.seen.add(pod.nodeName);
      const presence = pod.presence[container] ?? { state: "pending" };
      if (presence.state === "present") {
        entry.ready.add(pod.nodeName);
        entry.failing.delete(pod.nodeName);
        entry.blocked.delete(pod.nodeName);
      } else if (!entry.ready.has(pod.nodeName)) {
        if (presence.state === "failing")
          entry.failing.set(pod.nodeName, { reason: presence.reason, message: presence.message });
        if (pod.initFailure !== undefined) entry.blocked.set(pod.nodeName, pod.initFailure);
      }
    }
  }
  return out;
}

function locationKey(daemonSet: string, container: string): string {
  return `${daemonSet}\u0000${container}`;
}

const EMPTY: ImageNodes = { ready: new Set(), failing: new Map(), blocked: new Map(), seen: new Set() };

export function computeStatus(
  mapping: readonly WorkloadImages[],
  daemonSets: readonly DaemonSetView[],
  pods: readonly PodView[],
): StatusReport {
  const eligibleOf = new Map(daemonSets.map((ds) => [ds.name, ds.desiredNumberScheduled]));
  const byLocation = nodesOf(pods);
  const totals = new Map<
    string,
    { ready: Set<string>; failing: Set<string>; seen: Set<string>; eligible: number }
  >();
  const accounted = new Set<string>();

  const workloads = mapping.map((entry): WorkloadStatus => {
    const images: ImageStatus[] = [];
    let readyNodes: Set<string> | undefined;
    let eligibleNodes = 0;
    const failingNodes = new Set<string>();
    const blockedNodes = new Map<string, { reason: string; message: string }>();
    for (const location of entry.images) {
      const key = locationKey(location.daemonSet, location.container);
      const nodes = byLocation.get(key) ?? EMPTY;
      const eligible = eligibleOf.get(location.daemonSet) ?? 0;
      eligibleNodes = Math.max(eligibleNodes, eligible);
      for (const node of nodes.failing.keys()) failingNodes.add(node);
      for (const [node, failure] of nodes.blocked) blockedNodes.set(node, failure);
      readyNodes =
        readyNodes === undefined
          ? new Set(nodes.ready)
          : new Set([...readyNodes].filter((n) => nodes.ready.has(n)));
      images.push({
        image: location.image,
        daemonSet: location.daemonSet,
        container: location.container,
        eligible,
        ready: nodes.ready.size,
        failing: failuresOf(nodes.failing),
      });
      // An image shared by workloads of one group is one location: count its nodes once.
      if (!accounted.has(key)) {
        accounted.add(key);
        const total = totals.get(location.image) ?? {
          ready: new Set<string>(),
          failing: new Set<string>(),
          seen: new Set<string>(),
          eligible: 0,
        };
        totals.set(location.image, total);
        for (const node of nodes.ready) total.ready.add(node);
        for (const node of nodes.failing.keys()) total.failing.add(node);
        for (const node of nodes.seen) total.seen.add(node);
        total.eligible = Math.max(total.eligible, eligible);
      }
    }
    const ready = readyNodes?.size ?? 0;
    const sleeperFailing = failuresOf(blockedNodes);
    return {
      workload: entry.workload,
      id: entry.id,
      images,
      sleeperFailing,
      readyNodes: ready,
      eligibleNodes,
      summary:
        entry.unsupported !== undefined
          ? `not pre-pulled: ${entry.unsupported}`
          : summarize(images, ready, eligibleNodes, failingNodes.size, sleeperFailing),
    };
  });

  const images = [...totals.entries()]
    .map(([image, total]) => ({
      image,
      ready: total.ready.size,
      // Groups may overlap (all nodes and a GPU pool): distinct nodes, at least any one group's count.
      eligible: Math.max(total.eligible, total.seen.size),
      failing: [...total.failing].filter((node) => !total.ready.has(node)).length,
    }))
    .sort((a, b) => (a.image < b.image ? -1 : a.image > b.image ? 1 : 0));
  return { workloads, images };
}

function failuresOf(failing: ReadonlyMap<string, { reason: string; message: string }>): Failure[] {
  const byReason = new Map<string, Failure>();
  for (const { reason, message } of failing.values()) {
    const failure = byReason.get(reason) ?? { reason, message, nodes: 0 };
    failure.nodes++;
    byReason.set(reason, failure);
  }
  return [...byReason.values()].sort((a, b) => b.nodes - a.nodes || (a.reason < b.reason ? -1 : 1));
}

/** Annotation values stay short: the detail of each failure goes into an Event. */
export const SUMMARY_LENGTH_MAX = 512;

/**
 * "40/40 nodes ready", "2 images: 37/40 nodes ready; 1 failing on 3 nodes: ErrImagePull
 * docker.io/example/app:1.0", or "no images to pre-pull".
 */
export function summarize(
  images: readonly ImageStatus[],
  readyNodes: number,
  eligibleNodes: number,
  failingNodes: number,
  sleeperFailing: readonly Failure[] = [],
): string {
  if (images.length === 0) return "no images to pre-pull";
  let text = `${images.length === 1 ? "" : `${images.length} images: `}${readyNodes}/${eligibleNodes} nodes ready`;
  // First: a pod that cannot start pulls nothing, which explains a 0/N better than any image.
  if (sleeperFailing.length > 0) {
    const nodes = sleeperFailing.reduce((sum, failure) => sum + failure.nodes, 0);
    text += `; pre-pull pod cannot start on ${nodes} node${nodes === 1 ? "" : "s"}: ${sleeperFailing.map((f) => f.reason).join(", ")}`;
  }
  const failing = images.filter((image) => image.failing.length > 0);
  if (failing.length > 0) {
    const nodes = failingNodes;
    const details = failing
      .map((image) => `${image.failing[0]?.reason ?? "failing"} ${image.image}`)
      .join(", ");
    text += `; ${failing.length} failing on ${nodes} node${nodes === 1 ? "" : "s"}: ${details}`;
  }
  return text.length <= SUMMARY_LENGTH_MAX ? text : `${text.slice(0, SUMMARY_LENGTH_MAX - 1)}…`;
}
