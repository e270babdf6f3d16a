// What the caches keep of each object: only what the reconciler reads.
import { describe, expect, it } from "vitest";
import { placementOf } from "../../src/core/placement.ts";
import { DEFAULT_TOLERATION_POLICY } from "../../src/core/placement-bounds.ts";
import { workloadProjection } from "../../src/core/projection.ts";
import { type TrackingContext, trackedWorkloadOf } from "../../src/core/tracked.ts";
import { podSpecOf } from "../../src/core/workload.ts";

const managedFields = [{ manager: "kubectl", operation: "Apply", fieldsV1: { "f:spec": {} } }];
const podSpec = {
  nodeSelector: { pool: "gpu" },
  tolerations: [{ key: "nvidia.com/gpu", operator: "Exists" }],
  imagePullSecrets: [{ name: "regcred" }],
  initContainers: [
    { name: "migrate", image: "busybox:1.36", command: ["sh"], env: [{ name: "A", value: "1" }] },
  ],
  containers: [
    {
      name: "web",
      image: "nginx:1.25",
      imagePullPolicy: "IfNotPresent",
      ports: [{ containerPort: 80 }],
      livenessProbe: { httpGet: { path: "/" } },
    },
  ],
  volumes: [{ name: "data", emptyDir: {} }],
  serviceAccountName: "web",
};

function deployment(annotations: Record<string, string>) {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name: "web",
      namespace: "shop",
      uid: "u1",
      resourceVersion: "42",
      generation: 3,
      labels: { app: "web" },
      managedFields,
      annotations: { ...annotations, "kubectl.kubernetes.io/last-applied-configuration": "{...}" },
    },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: "web" } },
      template: { metadata: {}, spec: podSpec },
    },
    status: { replicas: 3, readyReplicas: 3 },
  };
}

describe("workloadProjection", () => {
  it("keeps of an opted-in Deployment its identity, prepull's annotations and what images and placement read", () => {
    const projected = workloadProjection(
      "Deployment",
      deployment({ prepull: "true", "prepull.dev/status": "3/3 nodes ready" }),
    );
    expect(projected).toEqual({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: {
        name: "web",
        namespace: "shop",
        uid: "u1",
        resourceVersion: "42",
        generation: 3,
        annotations: { prepull: "true", "prepull.dev/status": "3/3 nodes ready" },
      },
      spec: {
        template: {
          spec: {
            nodeSelector: { pool: "gpu" },
            tolerations: [{ key: "nvidia.com/gpu", operator: "Exists" }],
            imagePullSecrets: [{ name: "regcred" }],
            // Its imagePullSecrets count too (issue 9's ServiceAccount pull secrets).
            serviceAccountName: "web",
            initContainers: [{ name: "migrate", image: "busybox:1.36" }],
            containers: [{ name: "web", image: "nginx:1.25", imagePullPolicy: "IfNotPresent" }],
          },
        },
      },
    });
  });

  it("tracks the projection exactly as it tracks the whole object", () => {
    const whole = deployment({ prepull: "true" });
    const excluded: TrackingContext = {
      excluded: new Set<string>(),
      clusterDefault: false,
      namespaceLabels: () => ({}),
      namespaceAnnotations: () => ({}),
      runtimeClass: () => undefined,
      serviceAccountPullSecrets: () => undefined,
      tolerationPolicy: DEFAULT_TOLERATION_POLICY,
    };
    expect(
      trackedWorkloadOf({ kind: "Deployment", object: workloadProjection("Deployment", whole) }, excluded),
    ).toEqual(trackedWorkloadOf({ kind: "Deployment", object: whole }, excluded));
    expect(placementOf(podSpecOf("Deployment", workloadProjection("Deployment", whole)) ?? {})).toEqual(
      placementOf(podSpec),
    );
  });

  it('keeps only identity and the opt-out of a workload that says prepull: "false"', () => {
    expect(workloadProjection("Deployment", deployment({ prepull: "false" }))).toEqual({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: {
        name: "web",
        namespace: "shop",
        uid: "u1",
        resourceVersion: "42",
        generation: 3,
        annotations: { prepull: "false" },
      },
    });
  });

  it("keeps the template of an unannotated workload: its namespace or the cluster default may bring it in", () => {
    const projected = workloadProjection("Deployment", deployment({}));
    expect(podSpecOf("Deployment", projected)).toEqual(
      podSpecOf("Deployment", workloadProjection("Deployment", deployment({ prepull: "true" }))),
    );
  });

  it("keeps a CronJob's template and a Job's conditions", () => {
    const cron = workloadProjection("CronJob", {
      metadata: { name: "c", namespace: "n", annotations: { prepull: "true" } },
      spec: {
        schedule: "* * * * *",
        jobTemplate: { spec: { template: { spec: { containers: [{ name: "a", image: "x:1" }] } } } },
      },
    });
    expect(cron.spec).toEqual({
      jobTemplate: { spec: { template: { spec: { containers: [{ name: "a", image: "x:1" }] } } } },
    });
    const job = workloadProjection("Job", {
      metadata: { name: "j", namespace: "n", annotations: { prepull: "true" } },
      spec: { template: { spec: { containers: [] } } },
      status: { succeeded: 1, conditions: [{ type: "Complete", status: "True" }] },
    });
    expect(job.status).toEqual({ conditions: [{ type: "Complete", status: "True" }] });
  });
});
