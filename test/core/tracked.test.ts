import { describe, expect, it } from "vitest";
import { DEFAULT_TOLERATION_POLICY } from "../../src/core/placement-bounds.ts";
import {
  excludedNamespaces,
  fingerprint,
  type TrackingContext,
  trackedWorkloadOf,
} from "../../src/core/tracked.ts";
import type { JsonObject, WorkloadKind } from "../../src/core/workload.ts";

/** The caches as plain maps: namespaces by name, ServiceAccounts by namespace/name. */
function contextOf(
  options: {
    namespaces?: Record<string, Record<string, string>>;
    labels?: Record<string, Record<string, string>>;
    clusterDefault?: boolean;
    serviceAccounts?: Record<string, string[]>;
  } = {},
): TrackingContext {
  const namespaces = options.namespaces ?? { apps: {}, a: {}, prepull: {}, "kube-system": {}, ignored: {} };
  return {
    excluded: excludedNamespaces("prepull", ["ignored"]),
    clusterDefault: options.clusterDefault ?? false,
    namespaceLabels: (name) => (namespaces[name] === undefined ? undefined : (options.labels?.[name] ?? {})),
    namespaceAnnotations: (name) => namespaces[name],
    runtimeClass: () => undefined,
    serviceAccountPullSecrets: (namespace, name) => options.serviceAccounts?.[`${namespace}/${name}`],
    tolerationPolicy: DEFAULT_TOLERATION_POLICY,
  };
}

const excluded = contextOf();

function object(
  kind: WorkloadKind,
  options: {
    namespace?: string;
    annotations?: Record<string, string>;
    extra?: JsonObject;
    status?: JsonObject;
  } = {},
): JsonObject {
  const podSpec = {
    containers: [{ name: "main", image: "nginx:1.25" }],
    initContainers: [{ name: "init", image: "busybox:1.36" }],
    imagePullSecrets: [{ name: "regcred" }, { name: "regcred" }],
    nodeSelector: { pool: "gpu" },
  };
  const template = { metadata: {}, spec: podSpec };
  const spec = kind === "CronJob" ? { jobTemplate: { spec: { template } } } : { template };
  return {
    metadata: {
      name: "w",
      namespace: options.namespace ?? "apps",
      annotations: options.annotations ?? { prepull: "true" },
      ...options.extra,
    },
    spec,
    ...(options.status ? { status: options.status } : {}),
  };
}

describe("trackedWorkloadOf", () => {
  it("tracks an opted-in workload of each kind with canonical images, placement and pull secrets", () => {
    for (const kind of ["Deployment", "StatefulSet", "Job", "CronJob"] as const) {
      const tracked = trackedWorkloadOf({ kind, object: object(kind) }, excluded);
      expect(tracked).toEqual({
        key: { kind, namespace: "apps", name: "w" },
        images: ["docker.io/library/busybox:1.36", "docker.io/library/nginx:1.25"],
        placement: { nodeSelector: { pool: "gpu" }, nodeSelectorTerms: [], tolerations: [] },
        pullSecrets: ["regcred"],
        notes: [],
        reason: "annotation",
      });
    }
  });

  it("tracks a workload by its namespace's label or the cluster default, unless it opts out", () => {
    const labelled = contextOf({ labels: { apps: { "prepull.dev/enabled": "true" } } });
    const plain = object("Deployment", { annotations: {} });
    expect(trackedWorkloadOf({ kind: "Deployment", object: plain }, labelled)?.reason).toBe("namespace");
    expect(trackedWorkloadOf({ kind: "Deployment", object: plain }, excluded)).toBeUndefined();
    const optedOut = object("Deployment", { annotations: { prepull: "false" } });
    expect(trackedWorkloadOf({ kind: "Deployment", object: optedOut }, labelled)).toBeUndefined();
    const clusterWide = contextOf({ clusterDefault: true });
    expect(trackedWorkloadOf({ kind: "Deployment", object: plain }, clusterWide)?.reason).toBe(
      "cluster default",
    );
    expect(trackedWorkloadOf({ kind: "Deployment", object: optedOut }, clusterWide)).toBeUndefined();
    const inIgnored = object("Deployment", { annotations: {}, namespace: "ignored" });
    expect(trackedWorkloadOf({ kind: "Deployment", object: inIgnored }, clusterWide)).toBeUndefined();
  });

  it("does not track a workload whose namespace the cache has not seen yet", () => {
    expect(
      trackedWorkloadOf({ kind: "Deployment", object: object("Deployment") }, contextOf({ namespaces: {} })),
    ).toBeUndefined();
  });

  it("bounds the placement by the namespace's node selector", () => {
    const context = contextOf({
      namespaces: { apps: { "scheduler.alpha.kubernetes.io/node-selector": "team=a" } },
    });
    const tracked = trackedWorkloadOf({ kind: "Deployment", object: object("Deployment") }, context);
    expect(tracked?.placement.nodeSelector).toEqual({ pool: "gpu", team: "a" });
  });

  it("a workload whose pods would be rejected has no images, and a note saying why", () => {
    const context = contextOf({
      namespaces: { apps: { "scheduler.alpha.kubernetes.io/node-selector": "pool=cpu" } },
    });
    const tracked = trackedWorkloadOf({ kind: "Deployment", object: object("Deployment") }, context);
    expect(tracked?.images).toEqual([]);
    expect(tracked?.notes).toEqual(["nodeSelector pool=gpu conflicts with the namespace's node selector"]);
  });

  it("takes the ServiceAccount's pull secrets when the template has none, as the kubelet's pods get them", () => {
    const withoutSecrets = object("Deployment");
    const template = (withoutSecrets.spec as { template: { spec: JsonObject } }).template.spec;
    delete template.imagePullSecrets;
    const context = contextOf({
      serviceAccounts: { "apps/default": ["sa-cred"], "apps/builder": ["builder-cred"] },
    });
    expect(trackedWorkloadOf({ kind: "Deployment", object: withoutSecrets }, context)?.pullSecrets).toEqual([
      "sa-cred",
    ]);
    template.serviceAccountName = "builder";
    expect(trackedWorkloadOf({ kind: "Deployment", object: withoutSecrets }, context)?.pullSecrets).toEqual([
      "builder-cred",
    ]);
    // The template's own secrets win: the ServiceAccount plugin adds its secrets only to pods without any.
    expect(
      trackedWorkloadOf({ kind: "Deployment", object: object("Deployment") }, context)?.pullSecrets,
    ).toEqual(["regcred"]);
  });

  const untracked: { name: string; kind: WorkloadKind; object: JsonObject }[] = [
    { name: "not annotated", kind: "Deployment", object: object("Deployment", { annotations: {} }) },
    {
      name: "annotated false",
      kind: "Deployment",
      object: object("Deployment", { annotations: { prepull: "false" } }),
    },
    { name: "release namespace", kind: "Deployment", object: object("Deployment", { namespace: "prepull" }) },
    { name: "kube-system", kind: "Deployment", object: object("Deployment", { namespace: "kube-system" }) },
    {
      name: "configured exclusion",
      kind: "Deployment",
      object: object("Deployment", { namespace: "ignored" }),
    },
    {
      name: "being deleted",
      kind: "Deployment",
      object: object("Deployment", { extra: { deletionTimestamp: "2024-01-01T00:00:00Z" } }),
    },
    {
      name: "finished Job",
      kind: "Job",
      object: object("Job", { status: { conditions: [{ type: "Complete", status: "True" }] } }),
    },
    {
      name: "failed Job",
      kind: "Job",
      object: object("Job", { status: { conditions: [{ type: "Failed", status: "True" }] } }),
    },
    {
      name: "no template",
      kind: "Deployment",
      object: { metadata: { name: "w", namespace: "a", annotations: { prepull: "true" } } },
    },
  ];
  for (const c of untracked) {
    it(`does not track: ${c.name}`, () => {
      expect(trackedWorkloadOf({ kind: c.kind, object: c.object }, excluded)).toBeUndefined();
    });
  }

  it("keeps a running Job", () => {
    const job = object("Job", { status: { conditions: [{ type: "Complete", status: "False" }] } });
    expect(trackedWorkloadOf({ kind: "Job", object: job }, excluded)).toBeDefined();
  });
});

describe("fingerprint", () => {
  it("ignores annotations other than the opt-in, and status", () => {
    const a = object("Deployment");
    const b = object("Deployment", {
      annotations: { prepull: "true", "prepull.dev/status": "3/3 nodes ready" },
      status: { readyReplicas: 3 },
    });
    expect(fingerprint(trackedWorkloadOf({ kind: "Deployment", object: a }, excluded))).toBe(
      fingerprint(trackedWorkloadOf({ kind: "Deployment", object: b }, excluded)),
    );
  });

  it("is empty for an untracked object", () => {
    expect(fingerprint(undefined)).toBe("");
  });
});
