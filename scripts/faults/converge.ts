// What "converged" means after a fault, read from the cluster: the pre-pull DaemonSets hold exactly
// the images of the annotated workloads that exist (each once), every such workload's status
// annotation says its images are on all its eligible nodes, and a workload that is not annotated
// (any more) carries no status. The expectation is read from the live workloads, never recomputed
// with prepull's own code.
import { setTimeout as sleep } from "node:timers/promises";
import type { KubeRest } from "../../src/kube/rest.ts";

const STATUS_ANNOTATION = "prepull.dev/status";
const MANAGED_SELECTOR = "app.kubernetes.io/managed-by=prepull";

export interface Scope {
  /** Where the churned workloads live. */
  namespace: string;
  /** prepull's release namespace: where its DaemonSets are. */
  releaseNamespace: string;
  /** Only DaemonSet images with this prefix are judged (other tests' workloads share the plane). */
  imagePrefix: string;
}

interface DeploymentView {
  name: string;
  annotated: boolean;
  image: string;
  status?: string;
}

interface DaemonSetView {
  name: string;
  images: string[];
  desired: number;
  current: boolean;
}

interface Snapshot {
  workloads: DeploymentView[];
  daemonSets: DaemonSetView[];
}

async function snapshot(rest: KubeRest, scope: Scope): Promise<Snapshot> {
  const [deployments, daemonSets] = await Promise.all([
    rest.get(`/apis/apps/v1/namespaces/${encodeURIComponent(scope.namespace)}/deployments`),
    rest.get(`/apis/apps/v1/namespaces/${encodeURIComponent(scope.releaseNamespace)}/daemonsets`, {
      labelSelector: MANAGED_SELECTOR,
    }),
  ]);
  type Item = {
    metadata?: {
      name?: string;
      annotations?: Record<string, string>;
      generation?: number;
      deletionTimestamp?: string;
    };
    spec?: { template?: { spec?: { containers?: { image?: string }[] } } };
    status?: {
      desiredNumberScheduled?: number;
      observedGeneration?: number;
      updatedNumberScheduled?: number;
    };
  };
  const items = (list: unknown) => ((list as { items?: Item[] }).items ?? []) as Item[];
  return {
    workloads: items(deployments)
      .filter((d) => d.metadata?.deletionTimestamp === undefined)
      .map((d) => {
        const view: DeploymentView = {
          name: d.metadata?.name ?? "",
          annotated: d.metadata?.annotations?.prepull === "true",
          image: d.spec?.template?.spec?.containers?.[0]?.image ?? "",
        };
        const status = d.metadata?.annotations?.[STATUS_ANNOTATION];
        if (status !== undefined) view.status = status;
        return view;
      }),
    daemonSets: items(daemonSets).map((ds) => ({
      name: ds.metadata?.name ?? "",
      images: (ds.spec?.template?.spec?.containers ?? [])
        .map((c) => c.image ?? "")
        .filter((image) => image.startsWith(scope.imagePrefix)),
      desired: ds.status?.desiredNumberScheduled ?? 0,
      current: ds.status?.observedGeneration === ds.metadata?.generation,
    })),
  };
}

/** Everything that is not as it should be; empty when converged. */
function problems(state: Snapshot): string[] {
  const out: string[] = [];
  const want = state.workloads
    .filter((w) => w.annotated)
    .map((w) => w.image)
    .sort();
  const have = state.daemonSets.flatMap((ds) => ds.images).sort();
  const missing = want.filter((image) => !have.includes(image));
  const extra = have.filter((image) => !want.includes(image));
  const twice = have.filter((image, i) => have.indexOf(image) !== i);
  if (missing.length > 0) out.push(`missing from the DaemonSets: ${missing.join(", ")}`);
  if (extra.length > 0) out.push(`in the DaemonSets but wanted by no workload: ${extra.join(", ")}`);
  if (twice.length > 0) out.push(`in the DaemonSets more than once: ${twice.join(", ")}`);
  for (const w of state.workloads) {
    if (!w.annotated) {
      if (w.status !== undefined) out.push(`${w.name} is not annotated but has status "${w.status}"`);
      continue;
    }
    const ds = state.daemonSets.find((d) => d.images.includes(w.image));
    if (ds === undefined) continue;
    const wanted = `${ds.desired}/${ds.desired} nodes ready`;
    if (!ds.current || ds.desired === 0) out.push(`DaemonSet ${ds.name} not yet observed by its controller`);
    else if (w.status !== wanted) out.push(`${w.name}: status "${w.status ?? ""}", want "${wanted}"`);
  }
  return out;
}

export interface Converged {
  ms: number;
  state: Snapshot;
}

/** Polls until nothing is wrong; the error at the deadline lists what still was. */
export async function waitConverged(rest: KubeRest, scope: Scope, timeoutMs: number): Promise<Converged> {
  const started = performance.now();
  let last: string[] = ["not read yet"];
  for (;;) {
    try {
      const state = await snapshot(rest, scope);
      last = problems(state);
      if (last.length === 0) return { ms: Math.round(performance.now() - started), state };
    } catch (error) {
      last = [`cannot read the cluster: ${String(error)}`];
    }
    if (performance.now() - started > timeoutMs) {
      throw new Error(`not converged after ${timeoutMs / 1000}s:\n  ${last.slice(0, 15).join("\n  ")}`);
    }
    await sleep(250);
  }
}
