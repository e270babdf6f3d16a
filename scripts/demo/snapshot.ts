// One look at the cluster for the demo's table: per image and node pool, on how many of its
// eligible nodes the pre-pull DaemonSets have it (from their pods' container statuses, never
// node.status.images); per workload, its pods and its prepull.dev/* annotations; prepull's own
// counters.
import type {
  AppsV1Api,
  CoreV1Api,
  V1ContainerStatus,
  V1DaemonSet,
  V1Node,
  V1Pod,
} from "@kubernetes/client-node";
import { parseImageReference } from "../../src/core/images.ts";
import { sumOf } from "../../test/e2e/support/metrics.ts";
import { POOL_LABEL } from "../cluster/node-pools.ts";
import { DEMO_NAMESPACE, EXAMPLES, RELEASE_NAMESPACE } from "./workloads.ts";

const MANAGED_BY_SELECTOR = "app.kubernetes.io/managed-by=prepull";

interface NodeCount {
  ready: number;
  eligible: number;
}

export interface ImageRow extends NodeCount {
  image: string;
  /** By node pool: the DaemonSets' pods on that pool's nodes, and those that have the image. */
  pools: Record<string, NodeCount>;
}

interface WorkloadRow {
  name: string;
  /** Its image, normalised as prepull writes it into the DaemonSets. */
  image: string;
  optedIn: boolean;
  readyReplicas: number;
  replicas: number;
  /** prepull.dev/* annotations, without the prefix. */
  prepullAnnotations: Record<string, string>;
}

export interface Snapshot {
  daemonSets: number;
  /** Every pre-pull DaemonSet's status is of its current spec (the controller has caught up). */
  daemonSetsObserved: boolean;
  images: ImageRow[];
  workloads: WorkloadRow[];
  /** prepull_admission_requests_total by outcome; undefined when prepull could not be asked. */
  admission?: Record<string, number>;
  queueDepth?: number;
  /** prepull_reconcile_runs_total{result="ok"}. */
  reconcileRuns?: number;
}

export async function takeSnapshot(
  core: CoreV1Api,
  apps: AppsV1Api,
  metrics: () => Promise<string | undefined>,
): Promise<Snapshot> {
  const [daemonSets, pods, nodes, deployments, text] = await Promise.all([
    apps.listNamespacedDaemonSet({ namespace: RELEASE_NAMESPACE, labelSelector: MANAGED_BY_SELECTOR }),
    core.listNamespacedPod({ namespace: RELEASE_NAMESPACE, labelSelector: MANAGED_BY_SELECTOR }),
    core.listNode(),
    apps.listNamespacedDeployment({ namespace: DEMO_NAMESPACE }),
    metrics(),
  ]);
  const byName = new Map(deployments.items.map((d) => [d.metadata?.name ?? "", d]));
  const workloads = EXAMPLES.map((example): WorkloadRow => {
    const found = byName.get(example.name);
    const annotations = found?.metadata?.annotations ?? {};
    const parsed = parseImageReference(example.image);
    return {
      name: example.name,
      image: parsed.ok ? parsed.image.canonical : example.image,
      optedIn: annotations.prepull === "true",
      readyReplicas: found?.status?.readyReplicas ?? 0,
      replicas: found?.spec?.replicas ?? 0,
      prepullAnnotations: Object.fromEntries(
        Object.entries(annotations)
          .filter(([key]) => key.startsWith("prepull.dev/"))
          .map(([key, value]) => [key.slice("prepull.dev/".length), value]),
      ),
    };
  });
  return {
    daemonSets: daemonSets.items.length,
    daemonSetsObserved: daemonSets.items.every(
      (ds) => ds.status?.observedGeneration === ds.metadata?.generation,
    ),
    images: imageRows(daemonSets.items, pods.items, poolsOf(nodes.items)),
    workloads,
    ...(text === undefined
      ? {}
      : {
          admission: Object.fromEntries(
            ["patched", "unchanged", "ignored"].map((outcome) => [
              outcome,
              sumOf(text, "prepull_admission_requests_total", { outcome }),
            ]),
          ),
          queueDepth: sumOf(text, "prepull_reconcile_queue_depth"),
          reconcileRuns: sumOf(text, "prepull_reconcile_runs_total", { result: "ok" }),
        }),
  };
}

/** A container "has" its image on a node once it has started (or finished) there. */
function hasImage(status: V1ContainerStatus | undefined): boolean {
  if (!status) return false;
  return status.ready || status.state?.running !== undefined || status.state?.terminated?.exitCode === 0;
}

/** Node name → its pool (the plane's POOL_LABEL). */
function poolsOf(nodes: readonly V1Node[]): Map<string, string> {
  return new Map(
    nodes.map((node) => [node.metadata?.name ?? "", node.metadata?.labels?.[POOL_LABEL] ?? "?"]),
  );
}

/**
 * The node a DaemonSet pod is for: where it was scheduled, or before that the node the DaemonSet
 * controller pinned it to (required node affinity on metadata.name).
 */
function targetNode(pod: V1Pod): string | undefined {
  if (pod.spec?.nodeName) return pod.spec.nodeName;
  const terms =
    pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  const field = terms?.flatMap((term) => term.matchFields ?? []).find((f) => f.key === "metadata.name");
  return field?.values?.[0];
}

function imageRows(
  daemonSets: readonly V1DaemonSet[],
  pods: readonly V1Pod[],
  poolOfNode: ReadonlyMap<string, string>,
): ImageRow[] {
  const rows = new Map<string, ImageRow>();
  for (const daemonSet of daemonSets) {
    const uid = daemonSet.metadata?.uid;
    const own = pods.filter((pod) => pod.metadata?.ownerReferences?.some((ref) => ref.uid === uid));
    const template = daemonSet.spec?.template.spec;
    // One regular container per pre-pulled image; the init container only installs the sleeper.
    for (const container of template?.containers ?? []) {
      const image = container.image ?? "";
      if (image === "") continue;
      const row = rows.get(image) ?? { image, ready: 0, eligible: 0, pools: {} };
      for (const pod of own) {
        const pool = poolOfNode.get(targetNode(pod) ?? "") ?? "?";
        const count = row.pools[pool] ?? { ready: 0, eligible: 0 };
        count.eligible += 1;
        const status = pod.status?.containerStatuses?.find((s) => s.name === container.name);
        if (hasImage(status)) {
          count.ready += 1;
          row.ready += 1;
        }
        row.pools[pool] = count;
      }
      row.eligible += daemonSet.status?.desiredNumberScheduled ?? 0;
      rows.set(image, row);
    }
  }
  return [...rows.values()].sort((a, b) => a.image.localeCompare(b.image));
}
