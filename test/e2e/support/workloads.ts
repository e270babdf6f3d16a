// Workload objects for the tests: small, valid, and opted in (or not) through the annotation the
// webhook's matchCondition looks for.
import type { V1DaemonSet, V1Deployment, V1Secret, V1Toleration } from "@kubernetes/client-node";
import { expect, vi } from "vitest";
import { GPU_TAINT } from "../../../scripts/cluster/node-pools.ts";
import { adminClients } from "./cluster.ts";

export const OPT_IN = { prepull: "true" } as const;

export const GPU_TOLERATION: V1Toleration = {
  key: GPU_TAINT.key,
  operator: "Equal",
  value: GPU_TAINT.value,
  effect: GPU_TAINT.effect,
};

export interface DeploymentShape {
  name: string;
  image?: string;
  optedIn: boolean;
  replicas?: number;
  nodeSelector?: Record<string, string>;
  tolerations?: V1Toleration[];
}

export function deployment(shape: DeploymentShape): V1Deployment {
  const labels = { app: shape.name };
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: shape.name, labels, ...(shape.optedIn ? { annotations: { ...OPT_IN } } : {}) },
    spec: {
      replicas: shape.replicas ?? 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          containers: [{ name: "main", image: shape.image ?? "registry.k8s.io/pause:3.10" }],
          ...(shape.nodeSelector ? { nodeSelector: shape.nodeSelector } : {}),
          ...(shape.tolerations ? { tolerations: shape.tolerations } : {}),
        },
      },
    },
  };
}

export function daemonSet(name: string, tolerations: V1Toleration[] = []): V1DaemonSet {
  const labels = { app: name };
  return {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: { name, labels },
    spec: {
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: "pause", image: "registry.k8s.io/pause:3.10" }], tolerations },
      },
    },
  };
}

/** Waits until the deployment controller has observed the Deployment and all its replicas are available. */
export async function waitForRollout(namespace: string, name: string, timeout = 60_000): Promise<void> {
  await vi.waitFor(
    async () => {
      const { metadata, spec, status } = await adminClients().apps.readNamespacedDeployment({
        namespace,
        name,
      });
      expect(metadata?.annotations?.["deployment.kubernetes.io/revision"]).toBeDefined();
      expect(status?.observedGeneration).toBe(metadata?.generation);
      expect(status?.updatedReplicas ?? 0).toBe(spec?.replicas);
      expect(status?.availableReplicas ?? 0).toBe(spec?.replicas);
    },
    { timeout, interval: 200 },
  );
}

/** A registry credential Secret (`kubernetes.io/dockerconfigjson`) for registry.example.com. */
export function pullSecret(name: string, token: string): V1Secret {
  return {
    metadata: { name },
    type: "kubernetes.io/dockerconfigjson",
    data: { ".dockerconfigjson": dockerConfigJson(token) },
  };
}

/** The `.dockerconfigjson` value pullSecret carries, base64 as the API holds it. */
export function dockerConfigJson(token: string): string {
  return Buffer.from(JSON.stringify({ auths: { "registry.example.com": { auth: token } } })).toString(
    "base64",
  );
}
