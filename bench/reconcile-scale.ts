// The reconciler at scale on the local control plane (`npm run cluster:up` first), one replica as
// its own process with production timings (lease 15 s, renew 5 s, resync 60 s so a quiet minute
// holds exactly one full resync):
//
//   memory  RSS of the replica before and after N annotated (and M unannotated) Deployments
//           appear, all pinned to a node label no node has (no pods: only the reconciler is
//           measured); MiB per workload = (after − before) / (N + M).
//   quiet   prepull_api_requests_total over one minute in which nothing changes.
//   images  one Deployment of 2,000 containers and ten of 100 (3,000 images) on the KWOK nodes:
//           time until every pre-pull DaemonSet has all its pods ready, the largest stored
//           DaemonSet, and what the pre-pull pods reserve per node.
//
//   node --experimental-strip-types bench/reconcile-scale.ts [--annotated 1000] [--unannotated 0]
//        [--images 3000] [--skip-memory] [--skip-images]
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { AppsV1Api, CoreV1Api, KubeConfig, type V1Container, type V1Pod } from "@kubernetes/client-node";
import { clusterPaths } from "../scripts/cluster/paths.ts";
import { parseQuantity } from "../src/core/quantity.ts";
import { createKubeRest } from "../src/kube/rest.ts";
import { replicaSettings, spawnReplica, waitFor } from "./reconcile-harness.ts";

const { values } = parseArgs({
  options: {
    annotated: { type: "string", default: "1000" },
    unannotated: { type: "string", default: "0" },
    images: { type: "string", default: "3000" },
    "skip-memory": { type: "boolean", default: false },
    "skip-images": { type: "boolean", default: false },
  },
});

const kubeconfig = clusterPaths().kubeconfig;
const kubeConfig = new KubeConfig();
kubeConfig.loadFromFile(kubeconfig);
const core = kubeConfig.makeApiClient(CoreV1Api);
const apps = kubeConfig.makeApiClient(AppsV1Api);
const rest = createKubeRest(kubeConfig, { requestTimeoutMs: 60_000 });
const suffix = randomBytes(3).toString("hex");
const release = `prepull-scale-${suffix}`;
const workloads = `scale-${suffix}`;

const MiB = 1024 * 1024;
const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match?.[1] ?? Number.NaN) * 1024;
}

function metric(exposition: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of exposition.split("\n")) {
    if (!line.startsWith(name)) continue;
    const match = /^([\w:]+)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (match?.[1] !== name) continue;
    const text = match[2] ?? "";
    if (Object.entries(labels).every(([k, v]) => text.includes(`${k}="${v}"`))) total += Number(match[3]);
  }
  return total;
}

async function createDeployments(
  count: number,
  make: (i: number) => {
    name: string;
    annotated: boolean;
    images: string[];
    nodeSelector?: Record<string, string>;
  },
): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      const { name, annotated, images, nodeSelector } = make(i);
      const containers: V1Container[] = images.map((image, c) => ({ name: `c${c}`, image }));
      await apps.createNamespacedDeployment({
        namespace: workloads,
        body: {
          metadata: { name, ...(annotated ? { annotations: { prepull: "true" } } : {}) },
          spec: {
            replicas: 0,
            selector: { matchLabels: { app: name } },
            template: {
              metadata: { labels: { app: name } },
              spec: { containers, ...(nodeSelector ? { nodeSelector } : {}) },
            },
          },
        },
      });
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

/** Desired DaemonSets all exist with their spec (generation observed): the reconciler is done. */
async function settled(replica: { metrics(): Promise<string> }, minDesired: number): Promise<number> {
  return waitFor(
    "the reconciler to settle",
    async () => {
      const text = await replica.metrics();
      const desired = metric(text, "prepull_desired_daemonsets");
      const list = await rest.get(`/apis/apps/v1/namespaces/${release}/daemonsets`);
      const live = Array.isArray(list.items) ? list.items.length : 0;
      return desired >= minDesired && live === desired ? desired : undefined;
    },
    1_800_000,
    1_000,
  );
}

/** Waits until no DaemonSet or status write happened for 15 s: the rate-limited status drains. */
async function quiescent(replica: { metrics(): Promise<string> }): Promise<void> {
  const writes = async () => {
    const text = await replica.metrics();
    return metric(text, "prepull_daemonset_writes_total") + metric(text, "prepull_status_writes_total");
  };
  let last = await writes();
  for (let still = 0; still < 3; ) {
    await sleep(5_000);
    const now = await writes();
    still = now === last ? still + 1 : 0;
    last = now;
  }
}

/** Scheduler's view of a pod's requests: max(sum of containers, largest init container). */
function podRequests(pod: V1Pod): { cpu: number; memory: number } {
  const milli = (q: string | undefined) => Number(parseQuantity(q ?? "0")?.milli ?? 0n);
  const of = (resource: "cpu" | "memory") =>
    Math.max(
      (pod.spec?.containers ?? []).reduce((sum, c) => sum + milli(c.resources?.requests?.[resource]), 0),
      ...(pod.spec?.initContainers ?? []).map((c) => milli(c.resources?.requests?.[resource])),
    );
  return { cpu: of("cpu"), memory: of("memory") };
}

for (const name of [release, workloads]) await core.createNamespace({ body: { metadata: { name } } });
const settings = replicaSettings(release, `bench-scale-${suffix}`, {
  resyncSeconds: 60,
  prepull: { maxImagesPerDaemonSet: 100 },
  leaderElection: {
    leaseDurationSeconds: 15,
    renewPeriodSeconds: 5,
    renewDeadlineSeconds: 10,
    retryPeriodSeconds: 2,
    requestTimeoutSeconds: 5,
  },
});
const replica = await spawnReplica(kubeconfig, settings);
try {
  await waitFor("the replica to lead", async () => ((await replica.state()).leader ? true : undefined));
  const baseDesired = await settled(replica, 0);

  if (!values["skip-memory"]) {
    const annotated = Number(values.annotated);
    const unannotated = Number(values.unannotated);
    await sleep(5_000);
    const before = rssBytes(replica.pid);
    const heapBefore = (await replica.heap()).heapUsed;
    const started = performance.now();
    await createDeployments(annotated + unannotated, (i) => ({
      name: `w-${i}`,
      annotated: i < annotated,
      images: [`registry.example.com/scale/${suffix}/app-${i}:1.0`, "docker.io/library/busybox:1.36"],
      nodeSelector: { "prepull.dev/bench": "nowhere" },
    }));
    const created = performance.now();
    await waitFor(
      `${annotated} tracked workloads`,
      async () =>
        metric(await replica.metrics(), "prepull_tracked_workloads") >= annotated ? true : undefined,
      1_800_000,
      1_000,
    );
    const daemonSets = await settled(replica, baseDesired + 1);
    const converged = performance.now();
    await sleep(10_000);
    const heapAfter = (await replica.heap()).heapUsed;
    const after = rssBytes(replica.pid);
    console.log(
      `memory: ${annotated} annotated + ${unannotated} unannotated Deployments (2 images each, ${daemonSets} DaemonSets): ` +
        `RSS ${mib(before)} → ${mib(after)}, ${((after - before) / MiB / (annotated + unannotated)).toFixed(4)} MiB per workload; ` +
        `live heap after GC ${mib(heapBefore)} → ${mib(heapAfter)}, ${((heapAfter - heapBefore) / 1024 / (annotated + unannotated)).toFixed(1)} KiB per workload; ` +
        `created in ${((created - started) / 1000).toFixed(1)} s, settled ${((converged - created) / 1000).toFixed(1)} s later`,
    );

    await quiescent(replica);
    const quietStart = metric(await replica.metrics(), "prepull_api_requests_total");
    const byMethodStart = await replica.metrics();
    await sleep(60_000);
    const quietEnd = await replica.metrics();
    const methods = ["GET", "PUT", "PATCH", "POST", "DELETE"].map(
      (m) =>
        `${m} ${metric(quietEnd, "prepull_api_requests_total", { method: m }) - metric(byMethodStart, "prepull_api_requests_total", { method: m })}`,
    );
    console.log(
      `quiet minute with ${annotated} annotated workloads: ${metric(quietEnd, "prepull_api_requests_total") - quietStart} API requests (${methods.join(", ")}); ` +
        `DaemonSet writes ${metric(quietEnd, "prepull_daemonset_writes_total") - metric(byMethodStart, "prepull_daemonset_writes_total")}, ` +
        `status writes ${metric(quietEnd, "prepull_status_writes_total") - metric(byMethodStart, "prepull_status_writes_total")}`,
    );
  }

  if (!values["skip-images"]) {
    const total = Number(values.images);
    const big = Math.min(2_000, total);
    const rest100 = Math.ceil((total - big) / 100);
    const image = (i: number) => `registry.example.com/scale/${suffix}/img-${String(i).padStart(5, "0")}:1.0`;
    const before = await settled(replica, 0);
    const started = performance.now();
    await createDeployments(1 + rest100, (i) => {
      const from = i === 0 ? 0 : big + (i - 1) * 100;
      const to = i === 0 ? big : Math.min(total, from + 100);
      return {
        name: `images-${i}`,
        annotated: true,
        images: Array.from({ length: to - from }, (_, k) => image(from + k)),
      };
    });
    await settled(replica, before + 1);
    const applied = performance.now();
    const ready = await waitFor(
      "every pre-pull pod ready",
      async () => {
        const list = await apps.listNamespacedDaemonSet({ namespace: release });
        const withImages = list.items.filter((ds) =>
          ds.spec?.template.spec?.containers.some((c) => c.image?.includes(`/scale/${suffix}/img-`)),
        );
        const done = withImages.every(
          (ds) =>
            (ds.status?.desiredNumberScheduled ?? 0) > 0 &&
            ds.status?.numberReady === ds.status?.desiredNumberScheduled &&
            ds.status?.updatedNumberScheduled === ds.status?.desiredNumberScheduled &&
            ds.status?.observedGeneration === ds.metadata?.generation,
        );
        return done ? withImages : undefined;
      },
      1_800_000,
      2_000,
    );
    const converged = performance.now();
    const stored = await rest.get(`/apis/apps/v1/namespaces/${release}/daemonsets`);
    const sizes = (Array.isArray(stored.items) ? stored.items : []).map((ds) =>
      Buffer.byteLength(JSON.stringify(ds)),
    );
    const pods = (await core.listNamespacedPod({ namespace: release })).items;
    const perNode = new Map<string, { cpu: number; memory: number; pods: number }>();
    for (const pod of pods) {
      const node = pod.spec?.nodeName ?? "";
      const sum = perNode.get(node) ?? { cpu: 0, memory: 0, pods: 0 };
      const r = podRequests(pod);
      perNode.set(node, { cpu: sum.cpu + r.cpu, memory: sum.memory + r.memory / 1000, pods: sum.pods + 1 });
    }
    const nodes = [...perNode.entries()].sort(([a], [b]) => a.localeCompare(b));
    console.log(
      `images: ${total} images (one Deployment of ${big} containers + ${rest100} of ≤100) → ${ready.length} DaemonSets; ` +
        `DaemonSets applied ${((applied - started) / 1000).toFixed(1)} s after the first create, every pod ready after ${((converged - started) / 1000).toFixed(1)} s; ` +
        `largest stored DaemonSet ${(Math.max(...sizes) / 1024).toFixed(0)} KiB (managedFields included)`,
    );
    for (const [node, r] of nodes)
      console.log(`  ${node}: ${r.pods} pre-pull pods reserve ${r.cpu}m CPU, ${mib(r.memory)}`);
  }
} catch (error) {
  // The replica's own log says why it stopped answering, if it did.
  console.error(`replica output (last 4 KiB):\n${replica.output().slice(-4096)}`);
  throw error;
} finally {
  await replica.stop();
  for (const name of [release, workloads]) await core.deleteNamespace({ name }).catch(() => {});
}
