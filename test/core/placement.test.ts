import { describe, expect, it } from "vitest";
import type { Placement } from "../../src/core/placement.ts";
import { canonicalPlacement, placementKey, placementOf } from "../../src/core/placement.ts";
import type { JsonObject } from "../../src/core/workload.ts";

const gpuToleration = { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" };

function required(...terms: JsonObject[]): JsonObject {
  return { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } };
}

describe("placementOf: equivalent constraints give one key", () => {
  const cases: { name: string; a: JsonObject; b: JsonObject }[] = [
    { name: "no constraints vs empty fields", a: {}, b: { nodeSelector: {}, tolerations: [], affinity: {} } },
    {
      name: "nodeSelector key order",
      a: { nodeSelector: { pool: "gpu", "kubernetes.io/arch": "amd64" } },
      b: { nodeSelector: { "kubernetes.io/arch": "amd64", pool: "gpu" } },
    },
    {
      name: "toleration order and duplicates",
      a: { tolerations: [gpuToleration, { key: "team", value: "ml", effect: "NoSchedule" }] },
      b: {
        tolerations: [
          { key: "team", operator: "Equal", value: "ml", effect: "NoSchedule" },
          gpuToleration,
          gpuToleration,
        ],
      },
    },
    {
      name: "operator defaults to Equal",
      a: { tolerations: [{ key: "team", value: "ml" }] },
      b: { tolerations: [{ key: "team", operator: "Equal", value: "ml" }] },
    },
    {
      name: "Exists ignores a value",
      a: { tolerations: [{ key: "team", operator: "Exists", value: "whatever" }] },
      b: { tolerations: [{ key: "team", operator: "Exists" }] },
    },
    {
      name: "tolerationSeconds does not split",
      a: { tolerations: [{ key: "spot", operator: "Exists", effect: "NoExecute", tolerationSeconds: 30 }] },
      b: { tolerations: [{ key: "spot", operator: "Exists", effect: "NoExecute" }] },
    },
    {
      name: "default not-ready/unreachable tolerations are dropped",
      a: {
        tolerations: [
          {
            key: "node.kubernetes.io/not-ready",
            operator: "Exists",
            effect: "NoExecute",
            tolerationSeconds: 300,
          },
          {
            key: "node.kubernetes.io/unreachable",
            operator: "Exists",
            effect: "NoExecute",
            tolerationSeconds: 60,
          },
        ],
      },
      b: {},
    },
    {
      name: "a toleration covered by a broader one is dropped",
      a: {
        tolerations: [
          { key: "team", operator: "Exists" },
          { key: "team", value: "ml", effect: "NoSchedule" },
        ],
      },
      b: { tolerations: [{ key: "team", operator: "Exists" }] },
    },
    {
      name: "tolerate-everything swallows the rest",
      a: { tolerations: [{ operator: "Exists" }, gpuToleration] },
      b: { tolerations: [{ operator: "Exists" }] },
    },
    {
      name: "affinity terms, expressions and values in any order",
      a: {
        affinity: required(
          {
            matchExpressions: [
              { key: "zone", operator: "In", values: ["b", "a", "a"] },
              { key: "pool", operator: "Exists" },
            ],
          },
          { matchExpressions: [{ key: "kubernetes.io/arch", operator: "In", values: ["arm64"] }] },
        ),
      },
      b: {
        affinity: required(
          { matchExpressions: [{ key: "kubernetes.io/arch", operator: "In", values: ["arm64"] }] },
          {
            matchExpressions: [
              { key: "pool", operator: "Exists", values: [] },
              { key: "zone", operator: "In", values: ["a", "b"] },
            ],
          },
        ),
      },
    },
    {
      name: "an empty term next to a real one is dropped",
      a: { affinity: required({}, { matchExpressions: [{ key: "pool", operator: "In", values: ["x"] }] }) },
      b: { affinity: required({ matchExpressions: [{ key: "pool", operator: "In", values: ["x"] }] }) },
    },
    {
      name: "preferred affinity and pod anti-affinity are ignored",
      a: {
        affinity: {
          nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, preference: {} }] },
          podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: "x" }] },
        },
        topologySpreadConstraints: [{ maxSkew: 1 }],
      },
      b: {},
    },
  ];
  it.each(cases)("$name", ({ a, b }) => {
    expect(placementOf(a)).toEqual(placementOf(b));
    expect(placementKey(placementOf(a))).toBe(placementKey(placementOf(b)));
  });
});

describe("placementOf: different node sets give different keys", () => {
  const cases: { name: string; a: JsonObject; b: JsonObject }[] = [
    {
      name: "GPU selector and toleration vs none",
      a: { nodeSelector: { pool: "gpu" }, tolerations: [gpuToleration] },
      b: {},
    },
    { name: "arm64 vs none", a: { nodeSelector: { "kubernetes.io/arch": "arm64" } }, b: {} },
    {
      name: "arm64 vs amd64",
      a: { nodeSelector: { "kubernetes.io/arch": "arm64" } },
      b: { nodeSelector: { "kubernetes.io/arch": "amd64" } },
    },
    { name: "linux vs none", a: { nodeSelector: { "kubernetes.io/os": "linux" } }, b: {} },
    { name: "toleration only", a: { tolerations: [gpuToleration] }, b: {} },
    {
      name: "toleration effect matters",
      a: { tolerations: [{ key: "spot", operator: "Exists", effect: "NoSchedule" }] },
      b: { tolerations: [{ key: "spot", operator: "Exists", effect: "NoExecute" }] },
    },
    {
      name: "not-ready NoSchedule is a real toleration",
      a: { tolerations: [{ key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoSchedule" }] },
      b: {},
    },
    {
      name: "required affinity vs none",
      a: { affinity: required({ matchExpressions: [{ key: "pool", operator: "In", values: ["x"] }] }) },
      b: {},
    },
    {
      name: "values differ",
      a: { affinity: required({ matchExpressions: [{ key: "zone", operator: "In", values: ["a"] }] }) },
      b: { affinity: required({ matchExpressions: [{ key: "zone", operator: "In", values: ["a", "b"] }] }) },
    },
    {
      name: "a lone empty term matches nothing, not everything",
      a: { affinity: required({}) },
      b: {},
    },
    { name: "nodeName pins", a: { nodeName: "node-1" }, b: {} },
  ];
  it.each(cases)("$name", ({ a, b }) => {
    expect(placementKey(placementOf(a))).not.toBe(placementKey(placementOf(b)));
  });
});

describe("placementOf: canonical values", () => {
  it("fills defaults and sorts", () => {
    const placement = placementOf({
      nodeSelector: { b: "2", a: "1", bad: 3 },
      tolerations: [{ key: "z", value: "1" }, { key: "a", operator: "Exists", effect: "NoSchedule" }, "junk"],
      affinity: required({ matchExpressions: [{ key: "k", operator: "NotIn", values: ["y", "x"] }] }),
    });
    expect(placement).toEqual({
      nodeSelector: { a: "1", b: "2" },
      nodeSelectorTerms: [
        { matchExpressions: [{ key: "k", operator: "NotIn", values: ["x", "y"] }], matchFields: [] },
      ],
      tolerations: [
        { key: "a", operator: "Exists", value: "", effect: "NoSchedule" },
        { key: "z", operator: "Equal", value: "1", effect: "" },
      ],
    } satisfies Placement);
    expect(Object.keys(placement.nodeSelector)).toEqual(["a", "b"]);
  });

  it("folds nodeName into every term", () => {
    const placement = placementOf({
      nodeName: "n1",
      affinity: required(
        { matchExpressions: [{ key: "a", operator: "Exists" }] },
        { matchExpressions: [{ key: "b", operator: "Exists" }] },
      ),
    });
    expect(placement.nodeSelectorTerms.map((t) => t.matchFields)).toEqual([
      [{ key: "metadata.name", operator: "In", values: ["n1"] }],
      [{ key: "metadata.name", operator: "In", values: ["n1"] }],
    ]);
  });

  // Literals: the key is stored in clusters (the prepull.dev/placement label, and the first 10 hex
  // digits name each DaemonSet), so for the same placement it must never change between releases.
  it.each([
    { name: "no constraints", spec: {}, key: "3751c4edd9d67de5" },
    {
      name: "selector, in either key order",
      spec: { nodeSelector: { zone: "a", pool: "web" } },
      key: "f496a9b023a54d05",
    },
    { name: "arm64", spec: { nodeSelector: { "kubernetes.io/arch": "arm64" } }, key: "0e4076a483139c4d" },
    {
      name: "GPU selector and toleration",
      spec: { nodeSelector: { pool: "gpu" }, tolerations: [gpuToleration] },
      key: "5417a0ce4af833e1",
    },
    {
      name: "a toleration with a value",
      spec: { tolerations: [{ key: "dedicated", operator: "Equal", value: "ml", effect: "NoSchedule" }] },
      key: "e0cbd178e398f1dd",
    },
    {
      name: "required affinity",
      spec: {
        affinity: required({
          matchExpressions: [{ key: "kubernetes.io/arch", operator: "In", values: ["arm64", "amd64"] }],
        }),
      },
      key: "bad7dcbe72c9f2f4",
    },
  ])("pins the key of $name: $key", ({ spec, key }) => {
    expect(placementKey(placementOf(spec))).toBe(key);
  });

  it("is idempotent and the key is 16 hex digits", () => {
    const placement = placementOf({ nodeSelector: { pool: "gpu" }, tolerations: [gpuToleration] });
    expect(canonicalPlacement(placement)).toEqual(placement);
    expect(placementKey(placement)).toMatch(/^[0-9a-f]{16}$/);
  });

  it("canonicalises placements built by hand before keying", () => {
    const messy: Placement = {
      nodeSelector: { b: "2", a: "1" },
      nodeSelectorTerms: [],
      tolerations: [
        { key: "t", operator: "", value: "v", effect: "" },
        { key: "t", operator: "Equal", value: "v", effect: "" },
      ],
    };
    const clean = placementOf({ nodeSelector: { a: "1", b: "2" }, tolerations: [{ key: "t", value: "v" }] });
    expect(placementKey(messy)).toBe(placementKey(clean));
  });

  const empty = { nodeSelector: {}, nodeSelectorTerms: [], tolerations: [] };
  it.each([
    { spec: {}, placement: empty },
    {
      spec: {
        tolerations: [{ key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute" }],
      },
      placement: empty,
    },
    { spec: { nodeSelector: { a: "b" } }, placement: { ...empty, nodeSelector: { a: "b" } } },
    {
      spec: { tolerations: [gpuToleration] },
      placement: {
        ...empty,
        tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", value: "", effect: "NoSchedule" }],
      },
    },
  ])("the canonical placement of $spec", ({ spec, placement }) => {
    expect(canonicalPlacement(placementOf(spec))).toEqual(placement);
  });
});
