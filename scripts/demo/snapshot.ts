// One look at the cluster for the demo's table: per image, on how many of its eligible nodes the
// pre-pull DaemonSets have it (from their pods' container statuses, never node.status.images);
// per workload, its pods and its prepull.dev/* annotations; prepull's own counters.
import type { AppsV1Api, CoreV1Api, V1ContainerStatus, V1DaemonSet, V1Pod } from "@kubernetes/client-node";
import { sumOf } from "../../test/e2e/support/metrics.ts";
import { DEMO_NAMESPACE, EXAMPLES, RELEASE_NAMESPACE } from "./workloads.ts";

export const MANAGED_BY_SELECTOR = "app.kubernetes.io/managed-by=prepull";

export interface ImageRow {
  image: string;
  ready: number;
  eligible: number;
}

export interface WorkloadRow {
  name: string;
  optedIn: boolean;
  readyReplicas: number;
  replicas: number;
  /** prepull.dev/* annotations, without the prefix. */
  prepullAnnotations: Record<string, string>;
}

export interface Snapshot {
  daemonSets: number;
  images: ImageRow[];
  workloads: WorkloadRow[];
  /** prepull_admission_requests_total by outcome; undefined when prepull could not be asked. */
  admission?: Record<string, number>;
  queueDepth?: number;
}

export async function takeSnapshot(
  core: CoreV1Api,
  apps: AppsV1Api,
  metrics: () => Promise<string | undefined>,
): Promise<Snapshot> {
  const [daemonSets, pods, deployments, text] = await Promise.all([
    apps.listNamespacedDaemonSet({ namespace: RELEASE_NAMESPACE, labelSelector: MANAGED_BY_SELECTOR }),
    core.listNamespacedPod({ namespace: RELEASE_NAMESPACE, labelSelector: MANAGED_BY_SELECTOR }),
    apps.listNamespacedDeployment({ namespace: DEMO_NAMESPACE }),
    metrics(),
  ]);
  const byName = new Map(deployments.items.map((d) => [d.metadata?.name ?? "", d]));
  const workloads = EXAMPLES.map((example): WorkloadRow => {
    const found = byName.get(example.name);
    const annotations = found?.metadata?.annotations ?? {};
    return {
      name: example.name,
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
    images: imageRows(daemonSets.items, pods.items),
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
        }),
  };
}

/** A container "has" its image on a node once it has started (or finished) there. */
function hasImage(status: V1ContainerStatus | undefined): boolean {
  if (!status) return false;
  return status.ready || status.state?.running !== undefined || status.state?.terminated?.exitCode === 0;
}

export function imageRows(daemonSets: readonly V1DaemonSet[], pods: readonly V1Pod[]): ImageRow[] {
  const rows = new Map<string, ImageRow>();
  for (const daemonSet of daemonSets) {
    const uid = daemonSet.metadata?.uid;
    const own = pods.filter((pod) => pod.metadata?.ownerReferences?.some((ref) => ref.uid === uid));
    const template = daemonSet.spec?.template.spec;
    // One regular container per pre-pulled image; the init container only installs the sleeper.
    for (const container of template?.containers ?? []) {
      const image = container.image ?? "";
      if (image === "") continue;
      const ready = own.filter((pod) =>
        hasImage(pod.status?.containerStatuses?.find((status) => status.name === container.name)),
      ).length;
      const row = rows.get(image) ?? { image, ready: 0, eligible: 0 };
      row.ready += ready;
      row.eligible += daemonSet.status?.desiredNumberScheduled ?? 0;
      rows.set(image, row);
    }
  }
  return [...rows.values()].sort((a, b) => a.image.localeCompare(b.image));
}
