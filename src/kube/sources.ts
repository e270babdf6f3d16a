// Everything the reconciler reads, as watch caches: the four workload kinds in every namespace,
// and in the release namespace the DaemonSets, their pods and the mirrored Secrets that prepull
// owns (label-selected). Every replica runs these watches, leader or not, so a new leader starts
// from a warm cache and failover is quick.
//
// The source pull Secrets are not watched (that would need list and watch of every Secret in the
// cluster): the reconciler GETs each one by name, at most once per resync (kube/secret-cache.ts).
//
// Every cache holds projections (core/projection.ts): workloads reduced to what desired state and
// status read, and owned objects without managedFields.
//
// Workload events are filtered here: only an event that changes what desired state depends on (a
// workload becoming, staying or ceasing to be tracked with different images, placement or pull
// secrets) triggers a reconcile. Status updates of Deployments and prepull's own status
// annotation do not.
//
// Placement bounds read three more caches: every Namespace's metadata (its PodNodeSelector and
// PodTolerationRestriction annotations), every RuntimeClass (its scheduling), and, only with
// mirrored pull secrets, every ServiceAccount (its imagePullSecrets). A change in any of them
// can change what a workload may get, so it triggers a reconcile.
import type { KubeConfig } from "@kubernetes/client-node";
import {
  type RuntimeClassScheduling,
  runtimeClassSchedulingOf,
  type TolerationPolicy,
} from "../core/placement-bounds.ts";
import { workloadProjection } from "../core/projection.ts";
import {
  fingerprint,
  type ObservedWorkload,
  pullSecretNames,
  type TrackingContext,
  trackedWorkloadOf,
} from "../core/tracked.ts";
import type { WorkloadKind } from "../core/workload.ts";
import { isJsonObject, WORKLOAD_KINDS } from "../core/workload.ts";
import type { Logger } from "../log.ts";
import { NamespaceCache, type NamespaceMetadata } from "./namespaces.ts";
import { collectionPath } from "./paths.ts";
import type { KubeRest } from "./rest.ts";
import { type CachedObject, ResourceWatch, type WatchEventType } from "./watch.ts";

type SourceName =
  | "workloads"
  | "daemonSets"
  | "pods"
  | "secrets"
  | "namespaces"
  | "runtimeClasses"
  | "serviceAccounts";

export interface ClusterSourcesOptions {
  kubeConfig: KubeConfig;
  rest: KubeRest;
  releaseNamespace: string;
  excludedNamespaces: ReadonlySet<string>;
  /** Opt in every namespace not excluded (a workload's `prepull: "false"` still opts it out). */
  clusterDefault: boolean;
  /** `key=value,...` selecting what prepull owns in the release namespace. */
  ownedSelector: string;
  /**
   * Watch the mirrored pull Secrets and every ServiceAccount (whose imagePullSecrets a workload's
   * pods get). Only with mirrorPullSecrets: without it the chart grants neither.
   */
  watchSecrets: boolean;
  /** The administrator's policy on which taints prepull may tolerate. */
  tolerationPolicy: TolerationPolicy;
  logger: Logger;
  /**
   * Something the reconcile depends on changed (or a cache was (re-)listed). Urgent: what to
   * pre-pull or what prepull owns changed; lazy: only status moved (pods, a DaemonSet's status).
   */
  onChange: (source: SourceName, urgency: "urgent" | "lazy") => void;
}

export class ClusterSources {
  readonly #options: ClusterSourcesOptions;
  readonly #workloads: Map<WorkloadKind, ResourceWatch>;
  readonly #daemonSets: ResourceWatch;
  readonly #pods: ResourceWatch;
  readonly #secrets: ResourceWatch | undefined;
  readonly #namespaces: NamespaceCache;
  readonly #runtimeClasses: ResourceWatch;
  readonly #serviceAccounts: ResourceWatch | undefined;
  readonly #context: TrackingContext;
  /** uid → fingerprint of the tracked view, for filtering workload events. */
  readonly #fingerprints = new Map<string, string>();
  /** uid → metadata.generation of the owned DaemonSets, for telling spec from status changes. */
  readonly #generations = new Map<string, number>();

  constructor(options: ClusterSourcesOptions) {
    this.#options = options;
    const { kubeConfig, rest, logger, releaseNamespace, ownedSelector } = options;
    this.#workloads = new Map(
      (Object.keys(WORKLOAD_KINDS) as WorkloadKind[]).map((kind) => {
        const watch = new ResourceWatch({
          kubeConfig,
          rest,
          logger,
          path: collectionPath(kind),
          transform: (object) => workloadProjection(kind, object) as CachedObject,
          onEvent: (type, object) => this.#workloadEvent(kind, type, object),
          onListed: () => options.onChange("workloads", "urgent"),
        });
        return [kind, watch];
      }),
    );
    const owned = (
      path: string,
      source: SourceName,
      urgency: (type: WatchEventType, o: CachedObject) => "urgent" | "lazy",
    ) =>
      new ResourceWatch({
        kubeConfig,
        rest,
        logger,
        path,
        labelSelector: ownedSelector,
        transform: withoutManagedFields,
        onEvent: (type, object) => options.onChange(source, urgency(type, object)),
        onListed: () => options.onChange(source, "urgent"),
      });
    this.#daemonSets = owned(collectionPath("DaemonSet", releaseNamespace), "daemonSets", (type, object) =>
      this.#daemonSetUrgency(type, object),
    );
    this.#pods = owned(collectionPath("Pod", releaseNamespace), "pods", () => "lazy");
    this.#secrets = options.watchSecrets
      ? owned(collectionPath("Secret", releaseNamespace), "secrets", () => "urgent")
      : undefined;
    this.#namespaces = new NamespaceCache({
      kubeConfig,
      rest,
      logger,
      onChange: () => options.onChange("namespaces", "urgent"),
    });
    const clusterWide = (path: string, source: SourceName) =>
      new ResourceWatch({
        kubeConfig,
        rest,
        logger,
        path,
        onEvent: () => options.onChange(source, "urgent"),
        onListed: () => options.onChange(source, "urgent"),
      });
    this.#runtimeClasses = clusterWide(collectionPath("RuntimeClass"), "runtimeClasses");
    this.#serviceAccounts = options.watchSecrets
      ? clusterWide(collectionPath("ServiceAccount"), "serviceAccounts")
      : undefined;
    const runtimeClasses = this.#runtimeClasses;
    const serviceAccounts = this.#serviceAccounts;
    const namespaces = this.#namespaces;
    this.#context = {
      excluded: options.excludedNamespaces,
      clusterDefault: options.clusterDefault,
      namespaceLabels: (name) => namespaces.get(name)?.labels,
      tolerationPolicy: options.tolerationPolicy,
      namespaceAnnotations: (name) => namespaces.get(name)?.annotations,
      runtimeClass: (name): RuntimeClassScheduling | undefined => {
        const found = runtimeClasses.get(name);
        return found === undefined ? undefined : runtimeClassSchedulingOf(found);
      },
      serviceAccountPullSecrets: (namespace, name) => {
        const found = serviceAccounts?.get(name, namespace);
        return found === undefined ? undefined : pullSecretNames(found);
      },
    };
  }

  /** A namespace's labels and annotations, from the cluster-wide Namespace cache. */
  namespace(name: string): NamespaceMetadata | undefined {
    return this.#namespaces.get(name);
  }

  /** What tracking a workload reads besides the workload: these caches and the policy. */
  trackingContext(): TrackingContext {
    return this.#context;
  }

  start(): void {
    for (const watch of this.#all()) watch.start();
    this.#namespaces.start();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.#all().map((watch) => watch.stop()), this.#namespaces.stop()]);
  }

  /** Every cache holds a complete list: only then may the reconciler delete what it does not see. */
  listed(): boolean {
    return this.#all().every((watch) => watch.listed()) && this.#namespaces.listed();
  }

  workloads(): ObservedWorkload[] {
    const out: ObservedWorkload[] = [];
    for (const [kind, watch] of this.#workloads) {
      for (const object of watch.list()) out.push({ kind, object });
    }
    return out;
  }

  daemonSets(): readonly CachedObject[] {
    return this.#daemonSets.list(this.#options.releaseNamespace);
  }

  pods(): readonly CachedObject[] {
    return this.#pods.list(this.#options.releaseNamespace);
  }

  secrets(): readonly CachedObject[] {
    return this.#secrets?.list(this.#options.releaseNamespace) ?? [];
  }

  #all(): ResourceWatch[] {
    return [
      ...this.#workloads.values(),
      this.#daemonSets,
      this.#pods,
      ...(this.#secrets ? [this.#secrets] : []),
      this.#runtimeClasses,
      ...(this.#serviceAccounts ? [this.#serviceAccounts] : []),
    ];
  }

  #workloadEvent(kind: WorkloadKind, type: WatchEventType, object: CachedObject): void {
    const uid = object.metadata?.uid ?? `${kind}/${object.metadata?.namespace}/${object.metadata?.name}`;
    const before = this.#fingerprints.get(uid) ?? "";
    const after = type === "delete" ? "" : fingerprint(trackedWorkloadOf({ kind, object }, this.#context));
    if (after === "") this.#fingerprints.delete(uid);
    else this.#fingerprints.set(uid, after);
    if (before !== after) this.#options.onChange("workloads", "urgent");
  }

  /** A DaemonSet created, deleted or with a new spec (generation) is urgent; a status update is not. */
  #daemonSetUrgency(type: WatchEventType, object: CachedObject): "urgent" | "lazy" {
    const uid = object.metadata?.uid ?? object.metadata?.name ?? "";
    const generation = object.metadata?.generation ?? 0;
    const before = this.#generations.get(uid);
    if (type === "delete") this.#generations.delete(uid);
    else this.#generations.set(uid, generation);
    return type === "update" && before === generation ? "lazy" : "urgent";
  }
}

/** managedFields are often larger than the object itself and nothing here reads them. */
function withoutManagedFields(object: CachedObject): CachedObject {
  if (!isJsonObject(object.metadata) || object.metadata.managedFields === undefined) return object;
  const { managedFields: _dropped, ...metadata } = object.metadata;
  return { ...object, metadata };
}
