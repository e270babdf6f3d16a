// A Deployment that runs on the real node only: the demo's, the benchmark's and the tests'.
import type { V1Deployment } from "@kubernetes/client-node";
import { REAL_NODE_PLACEMENT } from "./layout.ts";

export interface RealNodeWorkload {
  name: string;
  /** One container per image, named c0, c1, … */
  images: readonly string[];
  /** Opted in with `prepull: "true"`. */
  optedIn: boolean;
  replicas?: number;
  namespace?: string;
}

export function realNodeDeployment(workload: RealNodeWorkload): V1Deployment {
  const labels = { app: workload.name };
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name: workload.name,
      ...(workload.namespace ? { namespace: workload.namespace } : {}),
      labels,
      ...(workload.optedIn ? { annotations: { prepull: "true" } } : {}),
    },
    spec: {
      replicas: workload.replicas ?? 0,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          ...REAL_NODE_PLACEMENT,
          terminationGracePeriodSeconds: 1,
          containers: workload.images.map((image, i) => ({ name: `c${i}`, image })),
        },
      },
    },
  };
}
