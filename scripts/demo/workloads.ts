// The demo's example workloads: what a team running large images would deploy. Two opt in to
// prepull with the `prepull: "true"` annotation, one does not.
import type { V1Deployment, V1Toleration } from "@kubernetes/client-node";
import { GPU_TAINT } from "../cluster/node-pools.ts";

export const DEMO_NAMESPACE = "demo";
export const RELEASE_NAMESPACE = "prepull";

const GPU_TOLERATION: V1Toleration = { key: GPU_TAINT.key, operator: "Exists", effect: GPU_TAINT.effect };

export interface Example {
  name: string;
  image: string;
  optedIn: boolean;
  replicas: number;
  /** One line for the demo's legend. */
  what?: string;
  gpu?: boolean;
  /** A nodeSelector on kubernetes.io/arch: the image has no arm64 variant. */
  amd64Only?: boolean;
}

export const EXAMPLES: readonly Example[] = [
  {
    name: "batch-inference",
    image: "pytorch/pytorch:2.4.1-cuda12.4-cudnn9-runtime",
    optedIn: true,
    replicas: 3,
    amd64Only: true,
    what: "a large amd64-only image (about 7 GB): the default pool, not arm64 or GPU nodes",
  },
  {
    name: "trainer",
    image: "nvcr.io/nvidia/pytorch:24.08-py3",
    optedIn: true,
    replicas: 2,
    gpu: true,
    what: "the GPU pool only: nodeSelector + toleration, one GPU per pod",
  },
  {
    name: "web",
    image: "nginx:1.27",
    optedIn: false,
    replicas: 2,
    what: "not opted in: the apiserver never calls prepull for it",
  },
];

export function exampleDeployment(example: Example): V1Deployment {
  const labels = { app: example.name };
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name: example.name,
      namespace: DEMO_NAMESPACE,
      labels,
      ...(example.optedIn ? { annotations: { prepull: "true" } } : {}),
    },
    spec: {
      replicas: example.replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          containers: [
            {
              name: "main",
              image: example.image,
              ...(example.gpu ? { resources: { limits: { "nvidia.com/gpu": "1" } } } : {}),
            },
          ],
          ...(example.gpu
            ? { nodeSelector: { "nvidia.com/gpu.present": "true" }, tolerations: [GPU_TOLERATION] }
            : {}),
          ...(example.amd64Only ? { nodeSelector: { "kubernetes.io/arch": "amd64" } } : {}),
        },
      },
    },
  };
}
