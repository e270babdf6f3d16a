// Node readiness gating on the real control plane (apiserver, controller-manager, scheduler) with
// KWOK nodes: prepull runs as its own process (src/main.ts) with PREPULL_NODE_GATE=on.
//
// Each test's nodes carry, besides the gating taint, a taint of the test's own
// (`prepull.dev/e2e-gate=<namespace>`) that only the test's workloads tolerate, so the pre-pull
// DaemonSets of other tests' leftover workloads never target them, and other tests' DaemonSets
// never land on them once released. How a pre-pull pod is held "still pulling" on a KWOK node is
// explained in support/node-gate.ts.
import type { CoreV1Event, V1Pod } from "@kubernetes/client-node";
import { expect, test, vi } from "vitest";
import { daemonSetWith, podsOf, waitFor } from "../../bench/reconcile-harness.ts";
import { createKubeRest } from "../../src/kube/rest.ts";
import { GATE_DEADLINE_REASON } from "../../src/reconcile/node-gate.ts";
import { adminClients } from "./support/cluster.ts";
import { sumOf } from "./support/metrics.ts";
import { withNamespace } from "./support/namespace.ts";
import {
  createKwokNode,
  FREE_NODE_CPU,
  GATE_TAINT,
  gateEnv,
  HELD_NODE_CPU,
  HOLDING_CONTAINER_CPU,
  hasTaint,
  isNodeSettled,
  isPodFor,
  isUnschedulableBecause,
  NodeTimeline,
  podsOnNode,
  readNode,
  setNodeCpu,
} from "./support/node-gate.ts";
import { type RunningPrepull, startPrepull } from "./support/prepull.ts";
import { deployment } from "./support/workloads.ts";

const E2E_TAINT_KEY = "prepull.dev/e2e-gate";
const E2E_LABEL = "prepull.dev/e2e-gate";

interface Scene {
  /** The workloads' namespace; also the value of this test's label and taint. */
  namespace: string;
  /** prepull's release namespace. */
  release: string;
  image: string;
}

async function scene(): Promise<Scene> {
  const namespace = await withNamespace("gate");
  const release = await withNamespace("prepull-gate");
  return { namespace, release, image: `registry.example.com/e2e/${namespace}/app:1` };
}

async function gatedPrepull(s: Scene, env: Record<string, string>): Promise<RunningPrepull> {
  const prepull = await startPrepull({ namespace: s.release, reconciler: true, env });
  return prepull;
}

async function metric(
  prepull: RunningPrepull,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  return sumOf(await prepull.metrics(), name, labels);
}

/** The test's node: gated, marked and tainted for this test only, with `cpu` allocatable. */
async function gatedNode(s: Scene, name: string, cpu: string, labelled = true) {
  return createKwokNode({
    name,
    cpu,
    labels: labelled ? { [E2E_LABEL]: s.namespace } : {},
    taints: [
      { key: GATE_TAINT.key, effect: GATE_TAINT.effect },
      { key: E2E_TAINT_KEY, value: s.namespace, effect: "NoSchedule" },
    ],
  });
}

/** An opted-in Deployment whose pods can run only on this test's labelled nodes. */
async function workload(s: Scene, replicas: number): Promise<void> {
  await adminClients().apps.createNamespacedDeployment({
    namespace: s.namespace,
    body: deployment({
      name: "app",
      optedIn: true,
      image: s.image,
      replicas,
      nodeSelector: { [E2E_LABEL]: s.namespace },
      tolerations: [{ key: E2E_TAINT_KEY, operator: "Equal", value: s.namespace, effect: "NoSchedule" }],
    }),
  });
}

async function scale(s: Scene, replicas: number): Promise<void> {
  await createKubeRest(adminClients().kubeConfig).mergePatch(
    `/apis/apps/v1/namespaces/${s.namespace}/deployments/app`,
    { spec: { replicas } },
  );
}

async function daemonSetName(s: Scene): Promise<string> {
  const ds = await waitFor("the pre-pull DaemonSet", () =>
    daemonSetWith(adminClients().apps, s.release, s.image),
  );
  return ds.metadata?.name ?? "";
}

async function workloadPods(s: Scene): Promise<V1Pod[]> {
  return (await adminClients().core.listNamespacedPod({ namespace: s.namespace, labelSelector: "app=app" }))
    .items;
}

async function prepullPodFor(s: Scene, ds: string, node: string): Promise<V1Pod | undefined> {
  return (await podsOf(adminClients().core, s.release, ds)).find((pod) => isPodFor(pod, node));
}

async function waitForRelease(node: string): Promise<void> {
  await waitFor(`${node} to lose the gating taint`, async () =>
    hasTaint(await readNode(node)) ? undefined : true,
  );
}

test("a new tainted node gets no workload pod until its pre-pull pod has its image, then gets them", async () => {
  const s = await scene();
  const prepull = await gatedPrepull(s, gateEnv({ containerCpu: HOLDING_CONTAINER_CPU }));
  try {
    // No replicas yet: the workload's DaemonSet must exist before the node joins (or nothing
    // targets the node and it is released at once), its pods only after the node has settled.
    await workload(s, 0);
    const ds = await daemonSetName(s);
    const node = `gate-ready-${s.namespace}`;
    await gatedNode(s, node, HELD_NODE_CPU);

    // The pre-pull pod was made for the node (it tolerates the gating taint) but cannot run yet.
    await waitFor("the pre-pull pod held Pending on the node", async () => {
      const pod = await prepullPodFor(s, ds, node);
      return pod !== undefined && isUnschedulableBecause(pod, "Insufficient cpu") ? true : undefined;
    });
    await waitFor("the node Ready, with no condition taints left", async () =>
      isNodeSettled(await readNode(node)) ? true : undefined,
    );
    expect((await readNode(node)).spec?.taints).toEqual([
      { key: GATE_TAINT.key, effect: GATE_TAINT.effect },
      { key: E2E_TAINT_KEY, value: s.namespace, effect: "NoSchedule" },
    ]);
    await scale(s, 2);
    // The scheduler weighed every node, this one included, and placed no pod: this node matches
    // their nodeSelector and has room, so what refused them is the one taint there they do not
    // tolerate, the gating taint (the scheduler's message counts taints but names none).
    let seen: unknown;
    await waitFor("both workload pods refused by every node, this one for its taint", async () => {
      const nodes = (await adminClients().core.listNode()).items.length;
      const pods = await workloadPods(s);
      seen = pods.map((pod) => pod.status?.conditions);
      return pods.length === 2 &&
        pods.every(
          (pod) =>
            isUnschedulableBecause(pod, `0/${nodes} nodes are available`) &&
            isUnschedulableBecause(pod, "untolerated taint(s)"),
        )
        ? true
        : undefined;
    }).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; last seen ${JSON.stringify(seen)}`);
    });
    await waitFor("prepull to count the node as gated", async () =>
      (await metric(prepull, "prepull_node_gate_nodes_gated")) === 1 ? true : undefined,
    );
    expect(hasTaint(await readNode(node))).toBe(true);
    expect(await podsOnNode(s.namespace, "app=app", node)).toEqual([]);
    expect(await metric(prepull, "prepull_node_gate_releases_total")).toBe(0);

    // The "pull" finishes: the pre-pull pod is bound, kwok reports its containers running.
    await setNodeCpu(node, FREE_NODE_CPU);
    await waitForRelease(node);
    const prepullPod = await waitFor("the pre-pull pod running on the node", async () => {
      const pod = await prepullPodFor(s, ds, node);
      return pod?.spec?.nodeName === node && pod.status?.phase === "Running" ? pod : undefined;
    });
    const placed = await waitFor("both workload pods on the node", async () => {
      const pods = await podsOnNode(s.namespace, "app=app", node);
      return pods.length === 2 ? pods : undefined;
    });

    // The pre-pull pod was ready no later than the scheduler placed any workload pod.
    const readyAt = prepullPod.status?.conditions?.find((c) => c.type === "Ready")?.lastTransitionTime;
    for (const pod of placed) {
      const scheduledAt = pod.status?.conditions?.find(
        (c) => c.type === "PodScheduled" && c.status === "True",
      )?.lastTransitionTime;
      expect(readyAt?.getTime()).toBeLessThanOrEqual(scheduledAt?.getTime() ?? 0);
    }
    const live = await readNode(node);
    expect(live.spec?.taints).toEqual([{ key: E2E_TAINT_KEY, value: s.namespace, effect: "NoSchedule" }]);
    expect(await metric(prepull, "prepull_node_gate_releases_total", { outcome: "ready" })).toBe(1);
    expect(await metric(prepull, "prepull_node_gate_releases_total", { outcome: "deadline" })).toBe(0);
    expect(await metric(prepull, "prepull_node_gate_gated_seconds_count")).toBe(1);
    expect(await metric(prepull, "prepull_node_gate_nodes_gated")).toBe(0);
  } finally {
    await prepull.stop();
  }
});

test("KWOK: time from node Ready to release when the pre-pull pod runs at once", async () => {
  const s = await scene();
  const prepull = await gatedPrepull(s, gateEnv());
  try {
    await workload(s, 1);
    await daemonSetName(s);
    const samples: number[] = [];
    for (let i = 0; i < 3; i++) {
      const node = `gate-fast-${i}-${s.namespace}`;
      const timeline = new NodeTimeline(node);
      await timeline.start();
      await gatedNode(s, node, FREE_NODE_CPU);
      await waitForRelease(node);
      await waitFor("the release in the timeline", async () => timeline.releasedAt());
      const ready = timeline.firstReadyAt() ?? Number.NaN;
      const released = timeline.releasedAt() ?? Number.NaN;
      expect(released).toBeGreaterThanOrEqual(ready);
      samples.push(released - ready);
      timeline.stop();
    }
    expect(await metric(prepull, "prepull_node_gate_releases_total", { outcome: "ready" })).toBe(3);
    // For the issue note: figures, not a threshold.
    console.log(`node gate on KWOK: node Ready → taint removed, ms: ${samples.join(", ")}`);
  } finally {
    await prepull.stop();
  }
});

test("past the deadline the taint is removed anyway, with a Warning Event naming the missing image", async () => {
  const s = await scene();
  const prepull = await gatedPrepull(s, gateEnv({ containerCpu: HOLDING_CONTAINER_CPU, deadlineSeconds: 8 }));
  try {
    await workload(s, 1);
    const ds = await daemonSetName(s);
    const node = `gate-deadline-${s.namespace}`;
    await gatedNode(s, node, HELD_NODE_CPU);
    await waitFor("the pre-pull pod held Pending on the node", async () => {
      const pod = await prepullPodFor(s, ds, node);
      return pod !== undefined && isUnschedulableBecause(pod, "Insufficient cpu") ? true : undefined;
    });
    await waitForRelease(node);

    const event = await waitFor("the deadline Event on the node", async () => {
      const events = await adminClients().core.listNamespacedEvent({
        namespace: "default",
        fieldSelector: `involvedObject.kind=Node,involvedObject.name=${node}`,
      });
      return events.items.find((e: CoreV1Event) => e.reason === GATE_DEADLINE_REASON);
    });
    expect(event.type).toBe("Warning");
    expect(event.involvedObject.uid).toBe((await readNode(node)).metadata?.uid);
    expect(event.message).toBe(
      `Removed taint prepull.dev/not-ready:NoSchedule after the 8 s deadline; images still missing: ${s.image}`,
    );
    expect(await metric(prepull, "prepull_node_gate_releases_total", { outcome: "deadline" })).toBe(1);
    expect(await metric(prepull, "prepull_node_gate_releases_total", { outcome: "ready" })).toBe(0);
    // Released, the node takes the workload pod although its image never arrived.
    await waitFor("the workload pod on the node", async () => {
      const pods = await podsOnNode(s.namespace, "app=app", node);
      return pods.length === 1 ? true : undefined;
    });
  } finally {
    await prepull.stop();
  }
});

test("a node that no pre-pull DaemonSet targets is released at once", async () => {
  const s = await scene();
  const prepull = await gatedPrepull(s, gateEnv());
  try {
    // A DaemonSet exists, for labelled nodes; this node has no label and a taint no group tolerates.
    await workload(s, 1);
    await daemonSetName(s);
    const node = `gate-none-${s.namespace}`;
    await gatedNode(s, node, FREE_NODE_CPU, false);
    await waitForRelease(node);
    expect(await metric(prepull, "prepull_node_gate_releases_total", { outcome: "ready" })).toBe(1);
    expect(await metric(prepull, "prepull_node_gate_releases_total", { outcome: "deadline" })).toBe(0);
    // prepull writes its log lines in batches (src/log.ts): wait for the line.
    await vi.waitFor(
      () => expect(prepull.output()).toContain("no pre-pull DaemonSet targets the node; taint removed"),
      { timeout: 10_000, interval: 100 },
    );
  } finally {
    await prepull.stop();
  }
});

test("with the gate off (the default) prepull leaves a tainted node alone", async () => {
  const s = await scene();
  const prepull = await gatedPrepull(s, {});
  try {
    const node = `gate-off-${s.namespace}`;
    await gatedNode(s, node, FREE_NODE_CPU);
    // A workload that targets the node, created after it: by the time its status is written,
    // prepull has seen the node and reconciled everything since.
    await workload(s, 1);
    const ds = await daemonSetName(s);
    await waitFor("the workload's status annotation", async () => {
      const live = await adminClients().apps.readNamespacedDeployment({
        namespace: s.namespace,
        name: "app",
      });
      return live.metadata?.annotations?.["prepull.dev/status"] === "0/0 nodes ready" ? true : undefined;
    });
    const live = await adminClients().apps.readNamespacedDaemonSet({ namespace: s.release, name: ds });
    // Its pods do not tolerate the gating taint, so none is made for the node...
    expect(live.spec?.template.spec?.tolerations).toEqual([
      { key: E2E_TAINT_KEY, operator: "Equal", value: s.namespace, effect: "NoSchedule" },
    ]);
    expect(await prepullPodFor(s, ds, node)).toBeUndefined();
    // ...no gate runs, and the taint stays.
    expect(await prepull.metrics()).not.toContain("prepull_node_gate_");
    expect(prepull.output()).not.toContain("node gate started");
    expect(hasTaint(await readNode(node))).toBe(true);
  } finally {
    await prepull.stop();
  }
});

test("the leader killed while a node is gated: the next leader releases it", async () => {
  const s = await scene();
  const env = gateEnv({ containerCpu: HOLDING_CONTAINER_CPU });
  const first = await startPrepull({
    namespace: s.release,
    reconciler: true,
    env: { ...env, POD_NAME: "gate-a" },
  });
  let second: RunningPrepull | undefined;
  try {
    await waitFor("the first replica to lead the node gate", async () =>
      (await metric(first, "prepull_node_gate_leader")) === 1 ? true : undefined,
    );
    second = await startPrepull({
      namespace: s.release,
      reconciler: true,
      env: { ...env, POD_NAME: "gate-b" },
    });
    const follower = second;
    expect(await metric(follower, "prepull_node_gate_leader")).toBe(0);

    await workload(s, 1);
    const ds = await daemonSetName(s);
    const node = `gate-leader-${s.namespace}`;
    await gatedNode(s, node, HELD_NODE_CPU);
    await waitFor("the pre-pull pod held Pending on the node", async () => {
      const pod = await prepullPodFor(s, ds, node);
      return pod !== undefined && isUnschedulableBecause(pod, "Insufficient cpu") ? true : undefined;
    });
    await waitFor("both replicas to see the gated node", async () =>
      (await metric(first, "prepull_node_gate_nodes_gated")) === 1 &&
      (await metric(follower, "prepull_node_gate_nodes_gated")) === 1
        ? true
        : undefined,
    );

    // A crash: the lease is not released. The images arrive while nobody leads.
    first.kill("SIGKILL");
    await first.exited;
    await setNodeCpu(node, FREE_NODE_CPU);
    await waitForRelease(node);
    expect(await metric(follower, "prepull_node_gate_leader")).toBe(1);
    expect(await metric(follower, "prepull_node_gate_releases_total", { outcome: "ready" })).toBe(1);
    expect(await metric(follower, "prepull_node_gate_releases_total", { outcome: "deadline" })).toBe(0);
  } finally {
    await Promise.all([first.stop(), second?.stop()]);
  }
});
