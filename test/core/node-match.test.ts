import { describe, expect, it } from "vitest";
import { type NodeFacts, placementAdmitsNode, type Taint, tolerates } from "../../src/core/node-match.ts";
import { type Placement, placementOf } from "../../src/core/placement.ts";
import type { JsonObject } from "../../src/core/workload.ts";

const gpuNode: NodeFacts = {
  name: "gpu-1",
  labels: {
    "kubernetes.io/arch": "amd64",
    "kubernetes.io/os": "linux",
    "nvidia.com/gpu.count": "8",
    pool: "gpu",
  },
  taints: [{ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" }],
};
const plainNode: NodeFacts = {
  name: "plain-1",
  labels: { "kubernetes.io/arch": "arm64", "kubernetes.io/os": "linux" },
  taints: [],
};

function required(...terms: JsonObject[]): JsonObject {
  return { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } };
}

const gpuToleration = { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" };

describe("placementAdmitsNode", () => {
  const cases: { name: string; podSpec: JsonObject; node: NodeFacts; admits: boolean }[] = [
    { name: "no constraints, untainted node", podSpec: {}, node: plainNode, admits: true },
    { name: "no constraints, tainted node", podSpec: {}, node: gpuNode, admits: false },
    { name: "toleration Exists", podSpec: { tolerations: [gpuToleration] }, node: gpuNode, admits: true },
    {
      name: "toleration Equal, same value",
      podSpec: { tolerations: [{ key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" }] },
      node: gpuNode,
      admits: true,
    },
    {
      name: "toleration Equal, other value",
      podSpec: { tolerations: [{ key: "nvidia.com/gpu", value: "absent", effect: "NoSchedule" }] },
      node: gpuNode,
      admits: false,
    },
    {
      name: "toleration of another effect",
      podSpec: { tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoExecute" }] },
      node: gpuNode,
      admits: false,
    },
    {
      name: "empty-key Exists tolerates everything",
      podSpec: { tolerations: [{ operator: "Exists" }] },
      node: gpuNode,
      admits: true,
    },
    {
      name: "PreferNoSchedule never keeps a pod away",
      podSpec: {},
      node: { ...plainNode, taints: [{ key: "soft", value: "", effect: "PreferNoSchedule" }] },
      admits: true,
    },
    {
      name: "nodeSelector matches",
      podSpec: { nodeSelector: { pool: "gpu" }, tolerations: [gpuToleration] },
      node: gpuNode,
      admits: true,
    },
    {
      name: "nodeSelector misses",
      podSpec: { nodeSelector: { "kubernetes.io/arch": "amd64" } },
      node: plainNode,
      admits: false,
    },
    {
      name: "affinity In",
      podSpec: {
        affinity: required({
          matchExpressions: [{ key: "kubernetes.io/arch", operator: "In", values: ["arm64"] }],
        }),
      },
      node: plainNode,
      admits: true,
    },
    {
      name: "affinity NotIn with the label absent",
      podSpec: {
        affinity: required({ matchExpressions: [{ key: "pool", operator: "NotIn", values: ["gpu"] }] }),
      },
      node: plainNode,
      admits: true,
    },
    {
      name: "affinity DoesNotExist",
      podSpec: { affinity: required({ matchExpressions: [{ key: "pool", operator: "DoesNotExist" }] }) },
      node: plainNode,
      admits: true,
    },
    {
      name: "affinity Exists misses",
      podSpec: { affinity: required({ matchExpressions: [{ key: "pool", operator: "Exists" }] }) },
      node: plainNode,
      admits: false,
    },
    {
      name: "affinity Gt compares integers (8 > 4)",
      podSpec: {
        tolerations: [gpuToleration],
        affinity: required({
          matchExpressions: [{ key: "nvidia.com/gpu.count", operator: "Gt", values: ["4"] }],
        }),
      },
      node: gpuNode,
      admits: true,
    },
    {
      name: "affinity Lt compares integers (8 < 10), not strings",
      podSpec: {
        tolerations: [gpuToleration],
        affinity: required({
          matchExpressions: [{ key: "nvidia.com/gpu.count", operator: "Lt", values: ["10"] }],
        }),
      },
      node: gpuNode,
      admits: true,
    },
    {
      name: "terms are ORed",
      podSpec: {
        affinity: required(
          { matchExpressions: [{ key: "pool", operator: "In", values: ["gpu"] }] },
          { matchExpressions: [{ key: "kubernetes.io/arch", operator: "In", values: ["arm64"] }] },
        ),
      },
      node: plainNode,
      admits: true,
    },
    {
      name: "requirements of a term are ANDed",
      podSpec: {
        affinity: required({
          matchExpressions: [
            { key: "kubernetes.io/arch", operator: "In", values: ["arm64"] },
            { key: "pool", operator: "Exists" },
          ],
        }),
      },
      node: plainNode,
      admits: false,
    },
    {
      name: "a lone empty term matches no node",
      podSpec: { affinity: required({}) },
      node: plainNode,
      admits: false,
    },
    {
      name: "matchFields metadata.name In",
      podSpec: {
        affinity: required({ matchFields: [{ key: "metadata.name", operator: "In", values: ["plain-1"] }] }),
      },
      node: plainNode,
      admits: true,
    },
    {
      name: "spec.nodeName pins to another node",
      podSpec: { nodeName: "other" },
      node: plainNode,
      admits: false,
    },
  ];
  it.each(cases)("$name", ({ podSpec, node, admits }) => {
    expect(placementAdmitsNode(placementOf(podSpec), node)).toBe(admits);
  });

  it("leaves out the taints the caller ignores", () => {
    const placement: Placement = placementOf({});
    const joining: NodeFacts = {
      ...plainNode,
      taints: [
        { key: "node.kubernetes.io/not-ready", value: "", effect: "NoSchedule" },
        { key: "prepull.dev/not-ready", value: "", effect: "NoSchedule" },
      ],
    };
    expect(placementAdmitsNode(placement, joining)).toBe(false);
    expect(placementAdmitsNode(placement, joining, () => true)).toBe(true);
    expect(placementAdmitsNode(placement, joining, (t) => t.key === "prepull.dev/not-ready")).toBe(false);
  });
});

describe("tolerates (v1.Toleration.ToleratesTaint)", () => {
  const taint: Taint = { key: "k", value: "v", effect: "NoSchedule" };
  const cases: {
    toleration: { key: string; operator: string; value: string; effect: string };
    ok: boolean;
  }[] = [
    { toleration: { key: "k", operator: "Equal", value: "v", effect: "NoSchedule" }, ok: true },
    { toleration: { key: "k", operator: "", value: "v", effect: "" }, ok: true },
    { toleration: { key: "k", operator: "Exists", value: "", effect: "" }, ok: true },
    { toleration: { key: "", operator: "Exists", value: "", effect: "NoSchedule" }, ok: true },
    { toleration: { key: "", operator: "Equal", value: "v", effect: "" }, ok: false },
    { toleration: { key: "k", operator: "Equal", value: "w", effect: "" }, ok: false },
    { toleration: { key: "other", operator: "Exists", value: "", effect: "" }, ok: false },
    { toleration: { key: "k", operator: "Exists", value: "", effect: "NoExecute" }, ok: false },
  ];
  it.each(cases)("$toleration → $ok", ({ toleration, ok }) => {
    expect(tolerates(toleration, taint)).toBe(ok);
  });
});
