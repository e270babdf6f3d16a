import { describe, expect, it } from "vitest";
import type { Placement, Toleration } from "../../src/core/placement.ts";
import {
  applyPolicy,
  type BoundedPlacement,
  boundPlacement,
  DEFAULT_TOLERATION_POLICY,
  type PlacementBoundsInput,
  parseSelector,
  parseTolerations,
  runtimeClassSchedulingOf,
  type TolerationPolicy,
} from "../../src/core/placement-bounds.ts";
import type { JsonObject } from "../../src/core/workload.ts";

const GPU = { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" };
const CONTROL_PLANE = {
  key: "node-role.kubernetes.io/control-plane",
  operator: "Exists",
  effect: "NoSchedule",
};
const EVERYTHING = { operator: "Exists" };

function tol(key: string, operator: string, value: string, effect: string): Toleration {
  return { key, operator, value, effect };
}

function bound(podSpec: JsonObject, extra: Partial<PlacementBoundsInput> = {}): BoundedPlacement {
  return boundPlacement({
    podSpec,
    runtimeClass: undefined,
    namespaceAnnotations: {},
    policy: DEFAULT_TOLERATION_POLICY,
    ...extra,
  });
}

function placed(result: BoundedPlacement): { placement: Placement; notes: string[] } {
  if (!result.schedulable) throw new Error(`unschedulable: ${result.notes.join("; ")}`);
  return result;
}

describe("boundPlacement with the default policy", () => {
  it("keeps the GPU pool example as it is, with nothing to say", () => {
    const result = placed(bound({ nodeSelector: { "nvidia.com/gpu.present": "true" }, tolerations: [GPU] }));
    expect(result.placement).toEqual({
      nodeSelector: { "nvidia.com/gpu.present": "true" },
      nodeSelectorTerms: [],
      tolerations: [tol("nvidia.com/gpu", "Exists", "", "NoSchedule")],
    });
    expect(result.notes).toEqual([]);
  });

  const cases: { name: string; tolerations: JsonObject[]; kept: Toleration[]; notes: string[] }[] = [
    {
      name: "a keyless Exists never becomes tolerate-everything",
      tolerations: [EVERYTHING],
      kept: [],
      notes: ["toleration of every taint dropped: prepull tolerates named taints only"],
    },
    {
      name: "a keyless Exists with an effect is dropped too; the GPU toleration beside it stays",
      tolerations: [{ operator: "Exists", effect: "NoSchedule" }, GPU],
      kept: [tol("nvidia.com/gpu", "Exists", "", "NoSchedule")],
      notes: ["toleration of every NoSchedule taint dropped: prepull tolerates named taints only"],
    },
    {
      name: "the control-plane taint is never tolerated",
      tolerations: [CONTROL_PLANE],
      kept: [],
      notes: [
        "toleration node-role.kubernetes.io/control-plane:NoSchedule dropped: prepull never tolerates node-role.kubernetes.io/control-plane",
      ],
    },
    {
      name: "nor the legacy master taint",
      tolerations: [
        { key: "node-role.kubernetes.io/master", operator: "Equal", value: "", effect: "NoSchedule" },
      ],
      kept: [],
      notes: [
        "toleration node-role.kubernetes.io/master=:NoSchedule dropped: prepull never tolerates node-role.kubernetes.io/master",
      ],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const result = placed(bound({ tolerations: c.tolerations }));
      expect(result.placement.tolerations).toEqual(c.kept);
      expect(result.notes).toEqual(c.notes);
    });
  }
});

describe("applyPolicy with named keys", () => {
  const policy: TolerationPolicy = {
    tolerated: ["nvidia.com/gpu", "dedicated", "node-role.kubernetes.io/control-plane"],
    neverTolerated: ["node-role.kubernetes.io/control-plane"],
  };
  const cases: { name: string; input: Toleration[]; kept: Toleration[]; notes: string[] }[] = [
    {
      name: "a keyless Exists narrows to the listed keys, minus the never-tolerated ones",
      input: [tol("", "Exists", "", "")],
      kept: [tol("dedicated", "Exists", "", ""), tol("nvidia.com/gpu", "Exists", "", "")],
      notes: ["toleration of every taint narrowed to nvidia.com/gpu, dedicated"],
    },
    {
      name: "the effect of a keyless Exists is kept when narrowing",
      input: [tol("", "Exists", "", "NoExecute")],
      kept: [tol("dedicated", "Exists", "", "NoExecute"), tol("nvidia.com/gpu", "Exists", "", "NoExecute")],
      notes: ["toleration of every NoExecute taint narrowed to nvidia.com/gpu, dedicated"],
    },
    {
      name: "an unlisted key is dropped",
      input: [tol("spot", "Equal", "true", "NoSchedule"), tol("dedicated", "Equal", "ml", "NoSchedule")],
      kept: [tol("dedicated", "Equal", "ml", "NoSchedule")],
      notes: ["toleration spot=true:NoSchedule dropped: not among prepull's tolerated taints"],
    },
    {
      name: "never wins over tolerated",
      input: [tol("node-role.kubernetes.io/control-plane", "Exists", "", "")],
      kept: [],
      notes: [
        "toleration node-role.kubernetes.io/control-plane dropped: prepull never tolerates node-role.kubernetes.io/control-plane",
      ],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(applyPolicy(c.input, policy)).toEqual({ tolerations: c.kept, notes: c.notes });
    });
  }

  it("an empty tolerated list tolerates nothing, and says so for a keyless Exists", () => {
    expect(
      applyPolicy([tol("", "Exists", "", ""), tol("nvidia.com/gpu", "Exists", "", "")], {
        tolerated: [],
        neverTolerated: [],
      }),
    ).toEqual({
      tolerations: [],
      notes: [
        "toleration of every taint dropped: prepull tolerates named taints only",
        "toleration nvidia.com/gpu dropped: not among prepull's tolerated taints",
      ],
    });
  });
});

describe("boundPlacement: the namespace's PodNodeSelector", () => {
  const annotations = { "scheduler.alpha.kubernetes.io/node-selector": "pool=team-a, zone = z1" };

  it("is added to the workload's own nodeSelector", () => {
    const result = placed(
      bound({ nodeSelector: { "kubernetes.io/arch": "amd64" } }, { namespaceAnnotations: annotations }),
    );
    expect(result.placement.nodeSelector).toEqual({
      "kubernetes.io/arch": "amd64",
      pool: "team-a",
      zone: "z1",
    });
    expect(result.notes).toEqual([]);
  });

  it("agreeing with it is no conflict", () => {
    const result = placed(bound({ nodeSelector: { pool: "team-a" } }, { namespaceAnnotations: annotations }));
    expect(result.placement.nodeSelector).toEqual({ pool: "team-a", zone: "z1" });
  });

  it("a conflicting key means the pods are rejected: nothing to pre-pull", () => {
    expect(bound({ nodeSelector: { pool: "gpu" } }, { namespaceAnnotations: annotations })).toEqual({
      schedulable: false,
      notes: ["nodeSelector pool=gpu conflicts with the namespace's node selector"],
    });
  });

  it("an empty annotation restricts nothing", () => {
    const result = placed(
      bound({}, { namespaceAnnotations: { "scheduler.alpha.kubernetes.io/node-selector": "" } }),
    );
    expect(result.placement.nodeSelector).toEqual({});
  });

  it("an unparsable annotation means the pods are rejected", () => {
    expect(
      bound({}, { namespaceAnnotations: { "scheduler.alpha.kubernetes.io/node-selector": "pool" } }),
    ).toEqual({
      schedulable: false,
      notes: ["namespace scheduler.alpha.kubernetes.io/node-selector is invalid"],
    });
  });
});

describe("boundPlacement: the namespace's PodTolerationRestriction", () => {
  const whitelist = (list: JsonObject[]) => ({
    "scheduler.alpha.kubernetes.io/tolerationsWhitelist": JSON.stringify(list),
  });

  it("default tolerations are added", () => {
    const result = placed(
      bound(
        {},
        {
          namespaceAnnotations: { "scheduler.alpha.kubernetes.io/defaultTolerations": JSON.stringify([GPU]) },
        },
      ),
    );
    expect(result.placement.tolerations).toEqual([tol("nvidia.com/gpu", "Exists", "", "NoSchedule")]);
  });

  it("a toleration outside the whitelist is dropped, with a note; one inside stays", () => {
    const result = placed(
      bound(
        { tolerations: [GPU, { key: "spot", operator: "Equal", value: "true", effect: "NoSchedule" }] },
        { namespaceAnnotations: whitelist([{ key: "nvidia.com/gpu", operator: "Exists" }]) },
      ),
    );
    expect(result.placement.tolerations).toEqual([tol("nvidia.com/gpu", "Exists", "", "NoSchedule")]);
    expect(result.notes).toEqual([
      "toleration spot=true:NoSchedule dropped: not in the namespace's whitelist",
    ]);
  });

  it("a keyless Exists is judged by the whitelist, and a narrower toleration it covers on its own", () => {
    const result = placed(
      bound({ tolerations: [EVERYTHING, GPU] }, { namespaceAnnotations: whitelist([GPU]) }),
    );
    expect(result.placement.tolerations).toEqual([tol("nvidia.com/gpu", "Exists", "", "NoSchedule")]);
    expect(result.notes).toEqual(["toleration of every taint dropped: not in the namespace's whitelist"]);
  });

  it("default tolerations are checked against the whitelist too", () => {
    const result = placed(
      bound(
        {},
        {
          namespaceAnnotations: {
            "scheduler.alpha.kubernetes.io/defaultTolerations": JSON.stringify([GPU]),
            ...whitelist([{ key: "dedicated", operator: "Exists" }]),
          },
        },
      ),
    );
    expect(result.placement.tolerations).toEqual([]);
    expect(result.notes).toEqual([
      "toleration nvidia.com/gpu:NoSchedule dropped: not in the namespace's whitelist",
    ]);
  });

  it("an empty whitelist restricts nothing", () => {
    const result = placed(bound({ tolerations: [GPU] }, { namespaceAnnotations: whitelist([]) }));
    expect(result.placement.tolerations).toEqual([tol("nvidia.com/gpu", "Exists", "", "NoSchedule")]);
  });

  it("an unparsable annotation means the pods are rejected", () => {
    expect(
      bound({}, { namespaceAnnotations: { "scheduler.alpha.kubernetes.io/defaultTolerations": "{" } }),
    ).toEqual({
      schedulable: false,
      notes: ["namespace scheduler.alpha.kubernetes.io/defaultTolerations is invalid"],
    });
  });
});

describe("boundPlacement: RuntimeClass scheduling", () => {
  const gvisor = runtimeClassSchedulingOf({
    apiVersion: "node.k8s.io/v1",
    kind: "RuntimeClass",
    metadata: { name: "gvisor" },
    handler: "runsc",
    scheduling: {
      nodeSelector: { sandbox: "gvisor" },
      tolerations: [{ key: "sandbox", operator: "Exists", effect: "NoSchedule" }],
    },
  });

  it("adds the RuntimeClass's nodeSelector and tolerations", () => {
    const result = placed(
      bound({ runtimeClassName: "gvisor", tolerations: [GPU] }, { runtimeClass: gvisor }),
    );
    expect(result.placement).toEqual({
      nodeSelector: { sandbox: "gvisor" },
      nodeSelectorTerms: [],
      tolerations: [
        tol("nvidia.com/gpu", "Exists", "", "NoSchedule"),
        tol("sandbox", "Exists", "", "NoSchedule"),
      ],
    });
  });

  it("a RuntimeClass without scheduling adds nothing", () => {
    const plain = runtimeClassSchedulingOf({ metadata: { name: "runc" }, handler: "runc" });
    const result = placed(bound({ runtimeClassName: "runc" }, { runtimeClass: plain }));
    expect(result.placement).toEqual({ nodeSelector: {}, nodeSelectorTerms: [], tolerations: [] });
  });

  it("a missing RuntimeClass means the pods are rejected", () => {
    expect(bound({ runtimeClassName: "kata" })).toEqual({
      schedulable: false,
      notes: ["RuntimeClass kata does not exist"],
    });
  });

  it("a nodeSelector conflicting with the RuntimeClass means the pods are rejected", () => {
    expect(
      bound({ runtimeClassName: "gvisor", nodeSelector: { sandbox: "kata" } }, { runtimeClass: gvisor }),
    ).toEqual({
      schedulable: false,
      notes: ["nodeSelector sandbox=kata conflicts with RuntimeClass gvisor"],
    });
  });

  it("its tolerations pass the namespace whitelist and the policy like the pod's own", () => {
    const controlPlane = runtimeClassSchedulingOf({ scheduling: { tolerations: [CONTROL_PLANE] } });
    const result = placed(bound({ runtimeClassName: "cp" }, { runtimeClass: controlPlane }));
    expect(result.placement.tolerations).toEqual([]);
    expect(result.notes).toHaveLength(1);
  });
});

describe("parsers", () => {
  it.each([
    ["a=b", { a: "b" }],
    [" a = b , c=d ", { a: "b", c: "d" }],
    ["example.com/pool=x", { "example.com/pool": "x" }],
    ["a=", { a: "" }],
    ["", {}],
  ])("parseSelector(%j)", (text, expected) => expect(parseSelector(text)).toEqual(expected));

  it.each(["a", "a=b=c", "=b", "a=b,", "bad key=x", "a=b c"])("parseSelector(%j) is invalid", (text) =>
    expect(parseSelector(text)).toBeUndefined(),
  );

  it("parseTolerations reads a JSON array of tolerations, canonical", () => {
    expect(parseTolerations('[{"key":"a","value":"b"},{"operator":"Exists","key":"c"}]')).toEqual([
      tol("a", "Equal", "b", ""),
      tol("c", "Exists", "", ""),
    ]);
    expect(parseTolerations("[]")).toEqual([]);
    expect(parseTolerations('{"key":"a"}')).toBeUndefined();
    expect(parseTolerations("[1]")).toBeUndefined();
    expect(parseTolerations("not json")).toBeUndefined();
  });
});
