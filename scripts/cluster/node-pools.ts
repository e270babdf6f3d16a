// The simulated node pools, as pure data: which nodes exist and what they look like. Labels,
// taints and allocatable mimic real nodes of each kind so that scheduling constraints written for
// a real cluster (GPU nodeSelectors and tolerations, arm64 affinity) behave the same here.
import type { V1Node } from "@kubernetes/client-node";

/** The label naming a node's pool: `default`, `gpu` or `arm64`. */
export const POOL_LABEL = "prepull.dev/pool";

export const POOL_NAMES = ["default", "gpu", "arm64"] as const;
export type PoolName = (typeof POOL_NAMES)[number];
export type PoolSizes = Record<PoolName, number>;

export const DEFAULT_POOL_SIZES: Readonly<PoolSizes> = { default: 3, gpu: 2, arm64: 2 };

/** The taint GPU node pools carry on managed Kubernetes (GKE, AKS; EKS with the NVIDIA operator). */
export const GPU_TAINT = { key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" } as const;

export const GPUS_PER_NODE = 8;

interface PoolShape {
  arch: "amd64" | "arm64";
  instanceType: string;
  labels: Record<string, string>;
  taints: { key: string; value: string; effect: string }[];
  allocatable: Record<string, string>;
}

const POOL_SHAPES: Readonly<Record<PoolName, PoolShape>> = {
  default: {
    arch: "amd64",
    instanceType: "m6i.2xlarge",
    labels: {},
    taints: [],
    allocatable: { cpu: "8", memory: "32Gi", pods: "110", "ephemeral-storage": "100Gi" },
  },
  gpu: {
    arch: "amd64",
    instanceType: "p4d.24xlarge",
    // What NVIDIA GPU feature discovery puts on a node.
    labels: {
      "nvidia.com/gpu.present": "true",
      "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB",
      "nvidia.com/gpu.count": String(GPUS_PER_NODE),
    },
    taints: [{ ...GPU_TAINT }],
    allocatable: {
      cpu: "96",
      memory: "1152Gi",
      pods: "110",
      "ephemeral-storage": "400Gi",
      "nvidia.com/gpu": String(GPUS_PER_NODE),
    },
  },
  arm64: {
    arch: "arm64",
    instanceType: "m7g.2xlarge",
    labels: {},
    taints: [],
    allocatable: { cpu: "8", memory: "32Gi", pods: "110", "ephemeral-storage": "100Gi" },
  },
};

function nodeName(pool: PoolName, index: number): string {
  return `kwok-${pool}-${index}`;
}

/** The Node object to create; kwok fills in conditions and heartbeats once it exists. */
export function nodeManifest(pool: PoolName, index: number, kubeletVersion: string): V1Node {
  const shape = POOL_SHAPES[pool];
  const name = nodeName(pool, index);
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      annotations: { "node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake" },
      labels: {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": shape.arch,
        "node.kubernetes.io/instance-type": shape.instanceType,
        "topology.kubernetes.io/zone": `local-${"abc"[index % 3]}`,
        type: "kwok",
        [POOL_LABEL]: pool,
        ...shape.labels,
      },
    },
    spec: { taints: shape.taints.map((taint) => ({ ...taint })) },
    status: {
      allocatable: { ...shape.allocatable },
      capacity: { ...shape.allocatable },
      nodeInfo: {
        architecture: shape.arch,
        operatingSystem: "linux",
        kubeletVersion,
        kubeProxyVersion: "",
        containerRuntimeVersion: "kwok",
        kernelVersion: "kwok",
        osImage: "kwok",
        bootID: "",
        machineID: "",
        systemUUID: "",
      },
    },
  };
}

/** Every node name the pools of these sizes hold, pool by pool. */
export function nodeNames(sizes: PoolSizes): { pool: PoolName; index: number; name: string }[] {
  return POOL_NAMES.flatMap((pool) =>
    Array.from({ length: sizes[pool] }, (_, index) => ({ pool, index, name: nodeName(pool, index) })),
  );
}
