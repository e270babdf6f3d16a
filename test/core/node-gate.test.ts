import { describe, expect, it } from "vitest";
import { daemonSetManifest } from "../../src/core/daemonset.ts";
import {
  type GateDaemonSet,
  type GateDecision,
  type GateNode,
  type GatePod,
  type GateSettings,
  gateDaemonSetOf,
  gateDecision,
  gateNodeOf,
  gateToleration,
  taintRemovalPatch,
} from "../../src/core/node-gate.ts";
import { placementOf } from "../../src/core/placement.ts";
import type { JsonObject } from "../../src/core/workload.ts";
import { settings as prepullSettings } from "./support/settings.ts";

const settings: GateSettings = {
  taintKey: "prepull.dev/not-ready",
  taintEffect: "NoSchedule",
  deadlineMs: 600_000,
};
const GATE = { key: "prepull.dev/not-ready", value: "", effect: "NoSchedule" };
const CREATED = Date.parse("2026-11-30T12:00:00Z");

function node(overrides: Partial<GateNode> = {}): GateNode {
  return {
    name: "new-1",
    labels: { "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", pool: "default" },
    taints: [GATE],
    createdMs: CREATED,
    ...overrides,
  };
}

/** As the reconciler writes them: the group's placement plus the gate toleration. */
function daemonSet(name: string, podSpec: JsonObject, images: Record<string, string>): GateDaemonSet {
  const placement = placementOf(podSpec);
  return {
    name,
    placement: { ...placement, tolerations: [...placement.tolerations, gateToleration(settings)] },
    images,
  };
}

const everywhere = daemonSet("prepull-aaaa", {}, { "img-1": "docker.io/library/nginx:1.25" });
const gpuOnly = daemonSet(
  "prepull-bbbb",
  { nodeSelector: { pool: "gpu" }, tolerations: [{ key: "nvidia.com/gpu", operator: "Exists" }] },
  { "img-2": "docker.io/example/cuda:12" },
);
const twoImages = daemonSet(
  "prepull-cccc",
  { nodeSelector: { "kubernetes.io/arch": "amd64" } },
  { "img-3": "docker.io/example/a:1", "img-4": "docker.io/example/b:1" },
);

function pod(daemonSet: GateDaemonSet, present: string[], overrides: Partial<GatePod> = {}): GatePod {
  return {
    daemonSet: daemonSet.name,
    nodeName: "new-1",
    images: { ...daemonSet.images },
    present,
    ...overrides,
  };
}

describe("gateDecision", () => {
  const at = (seconds: number) => CREATED + seconds * 1000;
  const cases: {
    name: string;
    node?: GateNode;
    daemonSets: GateDaemonSet[];
    pods: GatePod[];
    now: number;
    expected: GateDecision;
  }[] = [
    {
      name: "a node without the taint: nothing to do",
      node: node({ taints: [] }),
      daemonSets: [everywhere],
      pods: [],
      now: at(1),
      expected: { action: "none" },
    },
    {
      name: "the same key with another effect is not the gate's taint",
      node: node({ taints: [{ ...GATE, effect: "NoExecute" }] }),
      daemonSets: [everywhere],
      pods: [],
      now: at(1),
      expected: { action: "none" },
    },
    {
      name: "no pod yet: wait until the deadline",
      daemonSets: [everywhere],
      pods: [],
      now: at(10),
      expected: {
        action: "wait",
        missing: ["docker.io/library/nginx:1.25"],
        targetedBy: ["prepull-aaaa"],
        recheckInMs: 590_000,
      },
    },
    {
      name: "every image present: release (ready)",
      daemonSets: [everywhere, twoImages],
      pods: [pod(everywhere, ["img-1"]), pod(twoImages, ["img-3", "img-4"])],
      now: at(30),
      expected: {
        action: "release",
        outcome: "ready",
        missing: [],
        targetedBy: ["prepull-aaaa", "prepull-cccc"],
      },
    },
    {
      name: "one container of a pod still pulling: wait, naming only that image",
      daemonSets: [everywhere, twoImages],
      pods: [pod(everywhere, ["img-1"]), pod(twoImages, ["img-3"])],
      now: at(30),
      expected: {
        action: "wait",
        missing: ["docker.io/example/b:1"],
        targetedBy: ["prepull-aaaa", "prepull-cccc"],
        recheckInMs: 570_000,
      },
    },
    {
      name: "a pod on another node proves nothing for this one",
      daemonSets: [everywhere],
      pods: [pod(everywhere, ["img-1"], { nodeName: "old-1" })],
      now: at(30),
      expected: {
        action: "wait",
        missing: ["docker.io/library/nginx:1.25"],
        targetedBy: ["prepull-aaaa"],
        recheckInMs: 570_000,
      },
    },
    {
      name: "a pod of the previous revision (other image in that container) proves nothing",
      daemonSets: [everywhere],
      pods: [pod(everywhere, ["img-1"], { images: { "img-1": "docker.io/library/nginx:1.24" } })],
      now: at(30),
      expected: {
        action: "wait",
        missing: ["docker.io/library/nginx:1.25"],
        targetedBy: ["prepull-aaaa"],
        recheckInMs: 570_000,
      },
    },
    {
      name: "DaemonSets that do not target the node are not waited for",
      daemonSets: [everywhere, gpuOnly],
      pods: [pod(everywhere, ["img-1"])],
      now: at(5),
      expected: { action: "release", outcome: "ready", missing: [], targetedBy: ["prepull-aaaa"] },
    },
    {
      name: "no DaemonSet targets the node: release at once",
      daemonSets: [gpuOnly],
      pods: [],
      now: at(1),
      expected: { action: "release", outcome: "ready", missing: [], targetedBy: [] },
    },
    {
      name: "no DaemonSets at all: release at once",
      daemonSets: [],
      pods: [],
      now: at(1),
      expected: { action: "release", outcome: "ready", missing: [], targetedBy: [] },
    },
    {
      name: "a taint no DaemonSet tolerates: nothing can pull there, release at once",
      node: node({ taints: [GATE, { key: "dedicated", value: "db", effect: "NoSchedule" }] }),
      daemonSets: [everywhere],
      pods: [],
      now: at(1),
      expected: { action: "release", outcome: "ready", missing: [], targetedBy: [] },
    },
    {
      name: "the joining node's condition taints do not make it look untargeted",
      node: node({
        taints: [
          GATE,
          { key: "node.kubernetes.io/not-ready", value: "", effect: "NoSchedule" },
          { key: "node.cloudprovider.kubernetes.io/uninitialized", value: "true", effect: "NoSchedule" },
        ],
      }),
      daemonSets: [everywhere],
      pods: [],
      now: at(1),
      expected: {
        action: "wait",
        missing: ["docker.io/library/nginx:1.25"],
        targetedBy: ["prepull-aaaa"],
        recheckInMs: 599_000,
      },
    },
    {
      name: "the deadline passed with an image missing: release (deadline), naming it",
      daemonSets: [everywhere, twoImages],
      pods: [pod(everywhere, []), pod(twoImages, ["img-4"])],
      now: at(600),
      expected: {
        action: "release",
        outcome: "deadline",
        missing: ["docker.io/example/a:1", "docker.io/library/nginx:1.25"],
        targetedBy: ["prepull-aaaa", "prepull-cccc"],
      },
    },
    {
      name: "a node created long before (taint added by hand) is past its deadline",
      node: node({ createdMs: CREATED - 86_400_000 }),
      daemonSets: [everywhere],
      pods: [],
      now: at(0),
      expected: {
        action: "release",
        outcome: "deadline",
        missing: ["docker.io/library/nginx:1.25"],
        targetedBy: ["prepull-aaaa"],
      },
    },
  ];
  it.each(cases)("$name", (c) => {
    expect(gateDecision(c.node ?? node(), c.daemonSets, c.pods, settings, c.now)).toEqual(c.expected);
  });
});

describe("taintRemovalPatch", () => {
  it("tests and removes exactly the gating taint's entry", () => {
    const object: JsonObject = {
      metadata: { name: "new-1" },
      spec: {
        taints: [
          { key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" },
          { key: "prepull.dev/not-ready", effect: "NoSchedule" },
          { key: "prepull.dev/not-ready", effect: "NoExecute" },
        ],
      },
    };
    expect(taintRemovalPatch(object, settings)).toEqual([
      { op: "test", path: "/spec/taints/1", value: { key: "prepull.dev/not-ready", effect: "NoSchedule" } },
      { op: "remove", path: "/spec/taints/1" },
    ]);
  });

  it("is undefined when the node does not carry it", () => {
    expect(
      taintRemovalPatch({ spec: { taints: [{ key: "other", effect: "NoSchedule" }] } }, settings),
    ).toBeUndefined();
    expect(taintRemovalPatch({ spec: {} }, settings)).toBeUndefined();
  });
});

describe("reading Nodes and DaemonSets", () => {
  it("gateNodeOf takes name, string labels, taints and the creation time", () => {
    expect(
      gateNodeOf({
        metadata: {
          name: "n",
          creationTimestamp: "2026-11-30T12:00:00Z",
          labels: { a: "1", bad: 2 },
        },
        spec: { taints: [{ key: "k", effect: "NoSchedule" }, "junk"] },
      }),
    ).toEqual({
      name: "n",
      labels: { a: "1" },
      taints: [{ key: "k", value: "", effect: "NoSchedule" }],
      createdMs: CREATED,
    });
    expect(gateNodeOf({ metadata: {} })).toBeUndefined();
  });

  it("a DaemonSet prepull writes with the gate toleration targets a gated node of its group only", () => {
    const manifest = daemonSetManifest({
      name: "prepull-0123456789",
      placementKey: "0123456789abcdef",
      placement: placementOf({ nodeSelector: { pool: "default" } }),
      images: ["docker.io/library/nginx:1.25"],
      pullSecrets: [],
      settings: { ...prepullSettings, extraTolerations: [gateToleration(settings)] },
    });
    expect(manifest.spec.template.spec.tolerations).toEqual([
      { key: "prepull.dev/not-ready", operator: "Exists", effect: "NoSchedule" },
    ]);
    const ds = gateDaemonSetOf(manifest as unknown as JsonObject);
    expect(ds?.images).toEqual({ "img-b07c1fa2": "docker.io/library/nginx:1.25" });
    const decide = (n: GateNode) => gateDecision(n, ds ? [ds] : [], [], settings, CREATED);
    expect(decide(node()).action).toBe("wait");
    expect(decide(node({ labels: { "kubernetes.io/os": "linux", pool: "gpu" } })).action).toBe("release");
    // The sleeper is a Linux binary: the DaemonSet's os selector keeps Windows nodes out.
    expect(decide(node({ labels: { "kubernetes.io/os": "windows", pool: "default" } })).action).toBe(
      "release",
    );
  });

  it("without extraTolerations the manifest is what it always was (no toleration added)", () => {
    const manifest = daemonSetManifest({
      name: "prepull-0123456789",
      placementKey: "0123456789abcdef",
      placement: placementOf({}),
      images: ["docker.io/library/nginx:1.25"],
      pullSecrets: [],
      settings: prepullSettings,
    });
    expect(manifest.spec.template.spec.tolerations).toBeUndefined();
  });
});
