import { describe, expect, it } from "vitest";
import type { JsonObject, WorkloadKind } from "../../src/core/workload.ts";
import { excludedNamespaces, fingerprint, trackedWorkloadOf } from "../../src/reconcile/tracked.ts";

const excluded = excludedNamespaces("prepull", ["ignored"]);

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
      });
    }
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
