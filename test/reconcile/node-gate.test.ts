import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import type { JsonPatchOperation } from "../../src/core/patch.ts";
import type { JsonObject } from "../../src/core/workload.ts";
import type { NodeEvent, NodePatchResult } from "../../src/kube/node-writes.ts";
import { createLogger } from "../../src/log.ts";
import { GATE_DEADLINE_REASON, NodeGate } from "../../src/reconcile/node-gate.ts";
import { createNodeGateMetrics } from "../../src/reconcile/node-gate-metrics.ts";
import { sumOf } from "../e2e/support/metrics.ts";

const CREATED = "2026-11-30T12:00:00Z";
const CREATED_MS = Date.parse(CREATED);
const IMAGE = "docker.io/library/nginx:1.25";
const GATE_TAINT = { key: "prepull.dev/not-ready", effect: "NoSchedule" };

const gatedNode: JsonObject = {
  metadata: {
    name: "new-1",
    uid: "uid-1",
    creationTimestamp: CREATED,
    labels: { "kubernetes.io/os": "linux" },
  },
  spec: { taints: [{ key: "other", value: "x", effect: "PreferNoSchedule" }, GATE_TAINT] },
};

const daemonSet: JsonObject = {
  metadata: { name: "prepull-aaaa" },
  spec: {
    template: {
      spec: {
        nodeSelector: { "kubernetes.io/os": "linux" },
        tolerations: [{ key: "prepull.dev/not-ready", operator: "Exists", effect: "NoSchedule" }],
        containers: [{ name: "img-1", image: IMAGE }],
      },
    },
  },
};

function pod(state: JsonObject): JsonObject {
  return {
    metadata: { name: "prepull-aaaa-x", labels: { "prepull.dev/daemonset": "prepull-aaaa" } },
    spec: { nodeName: "new-1", containers: [{ name: "img-1", image: IMAGE }] },
    status: { containerStatuses: [{ name: "img-1", image: IMAGE, state }] },
  };
}
const running = pod({ running: { startedAt: CREATED } });
const pulling = pod({ waiting: { reason: "ContainerCreating" } });

function setup(options: {
  pods?: JsonObject[];
  leader?: boolean;
  listed?: boolean;
  patchResults?: NodePatchResult[];
}) {
  const registry = new Registry();
  const metrics = createNodeGateMetrics(registry, () => 0);
  const patches: { name: string; operations: readonly JsonPatchOperation[] }[] = [];
  const events: NodeEvent[] = [];
  const order: string[] = [];
  const results = [...(options.patchResults ?? [])];
  let now = CREATED_MS + 30_000;
  const gate = new NodeGate({
    settings: { taintKey: "prepull.dev/not-ready", taintEffect: "NoSchedule", deadlineMs: 600_000 },
    view: {
      listed: () => options.listed ?? true,
      node: (name) => (name === "new-1" ? gatedNode : undefined),
      daemonSets: () => [daemonSet],
      pods: () => options.pods ?? [],
    },
    writer: {
      async patchNode(name, operations) {
        patches.push({ name, operations });
        order.push("patch");
        return results.shift() ?? "patched";
      },
      async recordEvent(_node, event) {
        events.push(event);
        order.push("event");
      },
    },
    isLeader: () => options.leader ?? true,
    metrics,
    logger: createLogger("silent"),
    now: () => now,
  });
  return {
    gate,
    patches,
    events,
    order,
    setNow: (ms: number) => {
      now = ms;
    },
    metric: async (name: string, labels: Record<string, string> = {}) =>
      sumOf(await registry.metrics(), name, labels),
  };
}

const removal = [
  { op: "test", path: "/spec/taints/1", value: GATE_TAINT },
  { op: "remove", path: "/spec/taints/1" },
];

describe("NodeGate.reconcile", () => {
  it("while images are missing: keeps the taint and asks to run again at the deadline", async () => {
    const { gate, patches } = setup({ pods: [pulling] });
    expect(await gate.reconcile("new-1")).toEqual({ requeueAfterMs: 570_000 });
    expect(patches).toEqual([]);
  });

  it("every image present: removes exactly the taint, counts a ready release and its time", async () => {
    const { gate, patches, events, metric } = setup({ pods: [running] });
    expect(await gate.reconcile("new-1")).toEqual({});
    expect(patches).toEqual([{ name: "new-1", operations: removal }]);
    expect(events).toEqual([]);
    expect(await metric("prepull_node_gate_releases_total", { outcome: "ready" })).toBe(1);
    expect(await metric("prepull_node_gate_releases_total", { outcome: "deadline" })).toBe(0);
    expect(await metric("prepull_node_gate_gated_seconds_sum")).toBe(30);
    expect(await metric("prepull_node_gate_gated_seconds_count")).toBe(1);
  });

  it("past the deadline: a Warning Event naming the missing image, then the patch", async () => {
    const { gate, patches, events, order, setNow, metric } = setup({ pods: [pulling] });
    setNow(CREATED_MS + 600_000);
    expect(await gate.reconcile("new-1")).toEqual({});
    expect(order).toEqual(["event", "patch"]);
    expect(events).toEqual([
      {
        type: "Warning",
        reason: GATE_DEADLINE_REASON,
        message: `Removed taint prepull.dev/not-ready:NoSchedule after the 600 s deadline; images still missing: ${IMAGE}`,
      },
    ]);
    expect(patches).toHaveLength(1);
    expect(await metric("prepull_node_gate_releases_total", { outcome: "deadline" })).toBe(1);
  });

  it("a node changed under the patch: nothing counted, decided again soon, the Event not repeated", async () => {
    const { gate, patches, events, setNow, metric } = setup({ pods: [pulling], patchResults: ["changed"] });
    setNow(CREATED_MS + 700_000);
    expect(await gate.reconcile("new-1")).toEqual({ requeueAfterMs: 1_000 });
    expect(await metric("prepull_node_gate_releases_total")).toBe(0);
    expect(await gate.reconcile("new-1")).toEqual({});
    expect(patches).toHaveLength(2);
    expect(events).toHaveLength(1);
    expect(await metric("prepull_node_gate_releases_total", { outcome: "deadline" })).toBe(1);
  });

  it("a node deleted meanwhile: done, nothing counted", async () => {
    const { gate, metric } = setup({ pods: [running], patchResults: ["gone"] });
    expect(await gate.reconcile("new-1")).toEqual({});
    expect(await metric("prepull_node_gate_releases_total")).toBe(0);
  });

  it("a follower, or a cache not yet listed, writes nothing (the leader's or the list's pass adds the node)", async () => {
    for (const options of [{ leader: false }, { listed: false }]) {
      const { gate, patches, events } = setup({ pods: [running], ...options });
      expect(await gate.reconcile("new-1")).toEqual({});
      expect(patches).toEqual([]);
      expect(events).toEqual([]);
    }
  });

  it("an unknown node: nothing to do", async () => {
    const { gate, patches } = setup({ pods: [running] });
    expect(await gate.reconcile("elsewhere")).toEqual({});
    expect(patches).toEqual([]);
  });
});
