// The node gate's composition: watches of every Node and of the pre-pull DaemonSets and their pods
// in the release namespace, a per-node work queue, and a leader election of its own. Every replica
// watches (so a new leader starts from a warm cache); only the leader removes taints.
//
// What adds a node to the queue: any event of a node that carries the gating taint; an event of a
// pre-pull pod bound to such a node; any DaemonSet event, a completed (re-)list, and winning the
// election (these three add every gated node, since they may change any node's decision).
import type { KubeConfig } from "@kubernetes/client-node";
import type { Registry } from "prom-client";
import { gateNodeOf, isGateTaint } from "../core/node-gate.ts";
import { isJsonObject, type JsonObject } from "../core/workload.ts";
import { LeaderElector } from "../kube/leader.ts";
import { patchNode, recordNodeEvent } from "../kube/node-writes.ts";
import { collectionPath } from "../kube/paths.ts";
import { createKubeRest } from "../kube/rest.ts";
import { ResourceWatch } from "../kube/watch.ts";
import type { Logger } from "../log.ts";
import { KeyedQueue } from "./keyed-queue.ts";
import { NodeGate } from "./node-gate.ts";
import { createNodeGateMetrics } from "./node-gate-metrics.ts";
import type { NodeGateSettings } from "./node-gate-settings.ts";

export interface StartNodeGateOptions {
  kubeConfig: KubeConfig;
  settings: NodeGateSettings;
  registry: Registry;
  logger: Logger;
}

export interface RunningNodeGate {
  isLeader(): boolean;
  /** Every watch has delivered its first complete list. */
  ready(): boolean;
  /** Stops the queue (waits for a run in progress), releases the lease, closes the watches. */
  stop(): Promise<void>;
}

export function startNodeGate(options: StartNodeGateOptions): RunningNodeGate {
  const { kubeConfig, settings, registry } = options;
  const logger = options.logger.child({ component: "node-gate" });
  // Every request ends within the lease's room, like the reconciler's (see requestTimeoutSeconds).
  const requestTimeoutMs = settings.leaderElection.requestTimeoutSeconds * 1000;
  // As the reconciler's: the Lease on its own pool, every other write fenced on leadership.
  const leaseRest = createKubeRest(kubeConfig, { requestTimeoutMs });
  const rest = createKubeRest(kubeConfig, { requestTimeoutMs, mayWrite: () => elector.isLeader() });
  const ownedSelector = Object.entries(settings.ownedLabels)
    .map(([key, value]) => `${key}=${value}`)
    .join(",");

  const isGated = (object: JsonObject | undefined): boolean =>
    object !== undefined &&
    (gateNodeOf(object)?.taints.some((taint) => isGateTaint(taint, settings.gate)) ?? false);

  // Declared before the watches whose callbacks use it; assigned below.
  let queue: KeyedQueue | undefined;
  const addNode = (name: string) => queue?.add(name);

  const nodes = new ResourceWatch({
    kubeConfig,
    rest,
    logger,
    path: collectionPath("Node"),
    // Gated nodes only: the heartbeats of every other node would cost a run each for nothing. A
    // deleted node is added once, so the gate forgets what it remembered about it.
    onEvent: (type, node) => {
      if (isGated(node) || type === "delete") addNode(node.metadata?.name ?? "");
    },
    onListed: () => addAllGated(),
  });
  const nodeByName = (name: string): JsonObject | undefined => nodes.get(name);
  const gatedNodeNames = (): string[] =>
    nodes
      .list()
      .filter(isGated)
      .map((node) => node.metadata?.name ?? "");
  const addAllGated = () => {
    for (const name of gatedNodeNames()) addNode(name);
  };

  const daemonSets = new ResourceWatch({
    kubeConfig,
    rest,
    logger,
    path: collectionPath("DaemonSet", settings.namespace),
    labelSelector: ownedSelector,
    onEvent: () => addAllGated(),
    onListed: () => addAllGated(),
  });
  const pods = new ResourceWatch({
    kubeConfig,
    rest,
    logger,
    path: collectionPath("Pod", settings.namespace),
    labelSelector: ownedSelector,
    onEvent: (_type, pod) => {
      const spec = isJsonObject(pod.spec) ? pod.spec : {};
      const nodeName = typeof spec.nodeName === "string" ? spec.nodeName : "";
      if (nodeName !== "" && isGated(nodeByName(nodeName))) addNode(nodeName);
    },
    onListed: () => addAllGated(),
  });
  const watches = [nodes, daemonSets, pods];

  const metrics = createNodeGateMetrics(registry, () => gatedNodeNames().length);
  metrics.leader.set(0);
  const { leaseName, ...timings } = settings.leaderElection;
  const elector = new LeaderElector({
    rest: leaseRest,
    logger,
    settings: { ...timings, namespace: settings.namespace, name: leaseName },
    // The new leader finds every gated node in its own cache: nothing was handed over.
    onStartedLeading: () => {
      metrics.leader.set(1);
      addAllGated();
    },
    onStoppedLeading: () => metrics.leader.set(0),
  });
  // Followers see renewals as they happen and take over the moment the lease expires.
  const leaseWatch = new ResourceWatch({
    kubeConfig,
    rest,
    logger,
    path: collectionPath("Lease", settings.namespace),
    fieldSelector: `metadata.name=${leaseName}`,
    onEvent: (type, lease) => elector.observe(type === "delete" ? {} : lease),
  });

  const gate = new NodeGate({
    settings: settings.gate,
    view: {
      listed: () => watches.every((watch) => watch.listed()),
      node: nodeByName,
      daemonSets: () => daemonSets.list(settings.namespace),
      pods: () => pods.list(settings.namespace),
    },
    writer: {
      patchNode: (name, operations) => patchNode(rest, name, operations),
      recordEvent: (node, event) => recordNodeEvent(rest, node, event, settings.leaderElection.identity),
    },
    isLeader: () => elector.isLeader(),
    metrics,
    logger,
  });
  queue = new KeyedQueue({
    reconcile: (name) => gate.reconcile(name),
    onError: (name, error, failures) =>
      logger.error(
        { err: error, node: name, failures },
        "node gate: reconcile failed; retrying with backoff",
      ),
  });

  for (const watch of watches) watch.start();
  elector.start();
  leaseWatch.start();
  logger.info(
    {
      taint: `${settings.gate.taintKey}:${settings.gate.taintEffect}`,
      deadlineSeconds: settings.gate.deadlineMs / 1000,
      lease: leaseName,
    },
    "node gate started",
  );

  const running = queue;
  return {
    isLeader: () => elector.isLeader(),
    ready: () => watches.every((watch) => watch.listed()),
    async stop() {
      await running.stop();
      await elector.stop();
      await Promise.all([...watches, leaseWatch].map((watch) => watch.stop()));
      logger.info("node gate stopped");
    },
  };
}
