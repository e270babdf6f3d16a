// `helm uninstall` removes what Helm created; prepull created more at run time: the pre-pull
// DaemonSets, the mirrored pull Secrets, the status and image-set annotations on workloads, its
// Leases, and (with the node gate) it owns the gating taint's removal. The chart's post-delete
// hook runs prepull once more with PREPULL_UNINSTALL=on to remove all of it, then exits.
//
// The Deployment's pods are terminating while the hook runs (post-delete: Helm has deleted
// them), and one of them may still be in a reconcile that recreates a DaemonSet. So the hook
// first takes the reconciler's Lease, as any replica would (the departing leader hands it over
// on SIGTERM, or it expires), and writes only while it holds it: every write goes through the
// write fence (kube/write-fence.ts), and the departing replicas cannot write without the Lease.
import type { KubeConfig } from "@kubernetes/client-node";
import { TRACKED_IMAGES_ANNOTATION } from "../core/mutate.ts";
import { type GateSettings, taintRemovalPatch } from "../core/node-gate.ts";
import { isJsonObject, type JsonObject, WORKLOAD_KINDS, type WorkloadKind } from "../core/workload.ts";
import { deleteLabelled, listPages } from "../kube/collections.ts";
import { LeaderElector } from "../kube/leader.ts";
import { patchNode } from "../kube/node-writes.ts";
import { collectionPath, objectPath } from "../kube/paths.ts";
import { createKubeRest, KubeApiError, type KubeRest } from "../kube/rest.ts";
import { STATUS_ANNOTATION } from "../kube/status-writer.ts";
import type { Logger } from "../log.ts";
import { NODE_GATE_LEASE_NAME } from "./node-gate-settings.ts";
import type { ReconcilerSettings } from "./settings.ts";

/** What one uninstall removed. */
export interface UninstallReport {
  daemonSets: number;
  secrets: number;
  /** Workloads whose prepull annotations were removed. */
  workloads: number;
  /** Nodes whose gating taint was removed. */
  nodes: number;
  leases: number;
}

/** Where the leftovers are: the release namespace and prepull's labels there. */
export interface UninstallTarget {
  namespace: string;
  /** `key=value,...` of prepull's owned labels (with the release's instance label). */
  ownedSelector: string;
  /** The node gate's taint, when the gate was on. */
  gate: Pick<GateSettings, "taintKey" | "taintEffect"> | undefined;
}

function metadataOf(object: JsonObject): JsonObject {
  return isJsonObject(object.metadata) ? object.metadata : {};
}

/** Removes prepull's annotations from every workload that carries one (a 404 is a workload gone). */
async function clearAnnotations(rest: KubeRest): Promise<number> {
  let cleared = 0;
  for (const kind of Object.keys(WORKLOAD_KINDS) as WorkloadKind[]) {
    for (const object of (await listPages(rest, collectionPath(kind))).items) {
      const metadata = metadataOf(object);
      const annotations = isJsonObject(metadata.annotations) ? metadata.annotations : {};
      if (!(STATUS_ANNOTATION in annotations || TRACKED_IMAGES_ANNOTATION in annotations)) continue;
      const path = objectPath(kind, String(metadata.namespace), String(metadata.name));
      try {
        await rest.mergePatch(path, {
          metadata: { annotations: { [STATUS_ANNOTATION]: null, [TRACKED_IMAGES_ANNOTATION]: null } },
        });
        cleared++;
      } catch (error) {
        if (!(error instanceof KubeApiError && error.status === 404)) throw error;
      }
    }
  }
  return cleared;
}

/** Patch attempts per node: a `test` op fails when the node's taints changed since it was read. */
const NODE_ATTEMPTS = 3;

/** Removes the gating taint from every node that still carries it. */
async function releaseGatedNodes(rest: KubeRest, gate: UninstallTarget["gate"]): Promise<number> {
  if (gate === undefined) return 0;
  let released = 0;
  for (const listed of (await listPages(rest, collectionPath("Node"))).items) {
    const name = String(metadataOf(listed).name);
    let node: JsonObject | undefined = listed;
    for (let attempt = 1; node !== undefined; attempt++) {
      const operations = taintRemovalPatch(node, gate);
      if (operations === undefined) break;
      const result = await patchNode(rest, name, operations);
      if (result === "patched") released++;
      if (result !== "changed") break;
      if (attempt === NODE_ATTEMPTS)
        throw new Error(
          `node ${name}: its taints kept changing; the gating taint ${gate.taintKey} is still on it`,
        );
      node = await rest.getOptional(objectPath("Node", undefined, name));
    }
  }
  return released;
}

/**
 * Removes what prepull created, in an order that never leaves a pod without its Secret: the
 * DaemonSets first, then the mirrored Secrets, then the annotations and the gating taints.
 * `rest` must be fenced on the Lease: a write after the Lease is lost fails with NotLeaderError.
 */
export async function removeLeftovers(
  rest: KubeRest,
  target: UninstallTarget,
): Promise<Omit<UninstallReport, "leases">> {
  const { namespace, ownedSelector } = target;
  const daemonSets = await deleteLabelled(rest, collectionPath("DaemonSet", namespace), ownedSelector);
  const secrets = await deleteLabelled(rest, collectionPath("Secret", namespace), ownedSelector);
  const workloads = await clearAnnotations(rest);
  const nodes = await releaseGatedNodes(rest, target.gate);
  return { daemonSets, secrets, workloads, nodes };
}

export interface UninstallOptions {
  kubeConfig: KubeConfig;
  settings: ReconcilerSettings;
  ownedLabels: Readonly<Record<string, string>>;
  gate: UninstallTarget["gate"];
  logger: Logger;
  /** How long to wait for the Lease before giving up (the departing leader's lease must run out). */
  acquireTimeoutMs: number;
}

/** Takes the Lease, removes the leftovers, releases and deletes the Leases. */
export async function uninstall(options: UninstallOptions): Promise<UninstallReport> {
  const { settings, logger } = options;
  const { leaseName, ...timings } = settings.leaderElection;
  const requestTimeoutMs = timings.requestTimeoutSeconds * 1000;
  const leaseRest = createKubeRest(options.kubeConfig, { requestTimeoutMs });
  const rest = createKubeRest(options.kubeConfig, { requestTimeoutMs, mayWrite: () => elector.isLeader() });
  let leading: () => void = () => undefined;
  const led = new Promise<void>((resolve) => {
    leading = resolve;
  });
  const elector = new LeaderElector({
    rest: leaseRest,
    logger,
    settings: { ...timings, namespace: settings.prepull.namespace, name: leaseName },
    onStartedLeading: () => leading(),
    onStoppedLeading: () => undefined,
  });
  logger.info({ lease: leaseName }, "uninstall: taking the reconciler's Lease");
  elector.start();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      led,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `uninstall: the Lease ${settings.prepull.namespace}/${leaseName} was not free within ${options.acquireTimeoutMs / 1000} s; is a prepull replica still running?`,
              ),
            ),
          options.acquireTimeoutMs,
        );
      }),
    ]);
    const ownedSelector = Object.entries(options.ownedLabels)
      .map(([key, value]) => `${key}=${value}`)
      .join(",");
    const removed = await removeLeftovers(rest, {
      namespace: settings.prepull.namespace,
      ownedSelector,
      gate: options.gate,
    });
    logger.info(removed, "uninstall: leftovers removed");
    await elector.stop();
    let leases = 0;
    for (const name of [leaseName, NODE_GATE_LEASE_NAME]) {
      try {
        await leaseRest.delete(objectPath("Lease", settings.prepull.namespace, name));
        leases++;
      } catch (error) {
        if (!(error instanceof KubeApiError && error.status === 404)) throw error;
      }
    }
    return { ...removed, leases };
  } finally {
    clearTimeout(timer);
    await elector.stop();
  }
}
