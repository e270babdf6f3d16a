// AdmissionReviews as the apiserver sends them, for HTTP tests and the bench.
import type { JsonObject } from "../../src/core/workload.ts";

/** A realistic opted-in Deployment: three containers (one sidecar-ish init), probes, resources. */
export function deployment(name = "web", namespace = "shop"): JsonObject {
  const container = (containerName: string, image: string, port: number): JsonObject => ({
    name: containerName,
    image,
    imagePullPolicy: "IfNotPresent",
    ports: [{ name: "http", containerPort: port, protocol: "TCP" }],
    env: [
      { name: "LOG_FORMAT", value: "json" },
      { name: "POD_NAME", valueFrom: { fieldRef: { apiVersion: "v1", fieldPath: "metadata.name" } } },
    ],
    resources: { requests: { cpu: "250m", memory: "512Mi" }, limits: { memory: "1Gi" } },
    readinessProbe: { httpGet: { path: "/ready", port }, periodSeconds: 5, failureThreshold: 3 },
    volumeMounts: [{ name: "cache", mountPath: "/var/cache/app" }],
  });
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name,
      namespace,
      labels: { app: name, "app.kubernetes.io/part-of": "shop" },
      annotations: { prepull: "true", "deployment.kubernetes.io/revision": "3" },
    },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: name } },
      strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: "25%", maxUnavailable: "25%" } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          nodeSelector: { "kubernetes.io/arch": "amd64" },
          tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
          affinity: {
            nodeAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: {
                nodeSelectorTerms: [
                  {
                    matchExpressions: [
                      {
                        key: "node.kubernetes.io/instance-type",
                        operator: "In",
                        values: ["g5.xlarge", "g5.2xlarge"],
                      },
                    ],
                  },
                ],
              },
            },
          },
          initContainers: [container("migrate", "registry.example.com/shop/migrate:2.4.1", 9000)],
          containers: [
            container("app", "registry.example.com/shop/app:2.4.1", 8080),
            container("model", "nvcr.io/nvidia/pytorch:24.05-py3", 8500),
            container("proxy", "docker.io/envoyproxy/envoy:v1.30.1", 9901),
          ],
          volumes: [{ name: "cache", emptyDir: {} }],
        },
      },
    },
  };
}

export function admissionReview(
  object: JsonObject,
  request: Partial<{ uid: string; operation: string; dryRun: boolean; oldObject: JsonObject }> = {},
): JsonObject {
  const metadata = object.metadata as { name?: string; namespace?: string };
  const [group, version] = String(object.apiVersion).includes("/")
    ? String(object.apiVersion).split("/")
    : ["", String(object.apiVersion)];
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: request.uid ?? "705ab4f5-6393-11e8-b7cc-42010a800002",
      kind: { group, version, kind: object.kind },
      resource: { group, version, resource: `${String(object.kind).toLowerCase()}s` },
      name: metadata.name,
      namespace: metadata.namespace,
      operation: request.operation ?? "CREATE",
      userInfo: { username: "admin", groups: ["system:authenticated"] },
      object,
      oldObject: request.oldObject ?? null,
      dryRun: request.dryRun ?? false,
      options: { apiVersion: "meta.k8s.io/v1", kind: "CreateOptions" },
    },
  };
}
