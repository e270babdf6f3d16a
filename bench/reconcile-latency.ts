// Time from an annotated Deployment's creation (the create call returning) to a pre-pull
// DaemonSet carrying its image (seen through a watch), one Deployment at a time, on the local
// control plane (`npm run cluster:up` first). One reconciler replica runs as its own process,
// without the webhook: the watch path alone, which admission kicks only shorten.
//
//   node bench/reconcile-latency.ts [--samples 30] [--gap-ms 1500]
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { AppsV1Api, CoreV1Api, KubeConfig, Watch } from "@kubernetes/client-node";
import { clusterPaths } from "../scripts/cluster/paths.ts";
import { percentile, replicaSettings, spawnReplica, waitFor } from "./reconcile-harness.ts";

const { values } = parseArgs({
  options: { samples: { type: "string", default: "30" }, "gap-ms": { type: "string", default: "1500" } },
});
const samples = Number(values.samples);
const gapMs = Number(values["gap-ms"]);

const kubeconfig = clusterPaths().kubeconfig;
const kubeConfig = new KubeConfig();
kubeConfig.loadFromFile(kubeconfig);
const core = kubeConfig.makeApiClient(CoreV1Api);
const apps = kubeConfig.makeApiClient(AppsV1Api);
const suffix = randomBytes(3).toString("hex");
const release = `prepull-bench-${suffix}`;
const workloads = `bench-${suffix}`;
for (const name of [release, workloads]) await core.createNamespace({ body: { metadata: { name } } });

const firstSeen = new Map<string, number>();
const watch = await new Watch(kubeConfig).watch(
  `/apis/apps/v1/namespaces/${release}/daemonsets`,
  {},
  (_type: string, object: { spec?: { template?: { spec?: { containers?: { image?: string }[] } } } }) => {
    const now = performance.now();
    for (const container of object.spec?.template?.spec?.containers ?? []) {
      if (container.image !== undefined && !firstSeen.has(container.image))
        firstSeen.set(container.image, now);
    }
  },
  () => {},
);

const replica = await spawnReplica(kubeconfig, replicaSettings(release, "bench-latency"));
try {
  await waitFor("the replica to lead", async () => ((await replica.state()).leader ? true : undefined));
  const latencies: number[] = [];
  for (let i = 0; i < samples; i++) {
    const image = `registry.example.com/bench/${suffix}/app-${i}:1`;
    const started = performance.now();
    await apps.createNamespacedDeployment({
      namespace: workloads,
      body: {
        metadata: { name: `app-${i}`, annotations: { prepull: "true" } },
        spec: {
          replicas: 0,
          selector: { matchLabels: { app: `app-${i}` } },
          template: {
            metadata: { labels: { app: `app-${i}` } },
            spec: { containers: [{ name: "main", image }] },
          },
        },
      },
    });
    const seen = await waitFor(`${image} in a DaemonSet`, async () => firstSeen.get(image), 30_000, 5);
    latencies.push(seen - started);
    await sleep(gapMs);
  }
  const sorted = [...latencies].sort((a, b) => a - b);
  const ms = (v: number) => `${Math.round(v)} ms`;
  console.log(
    `creation → DaemonSet updated, ${samples} samples: p50 ${ms(percentile(sorted, 50))}, ` +
      `p99 ${ms(percentile(sorted, 99))}, min ${ms(sorted[0] ?? Number.NaN)}, max ${ms(sorted.at(-1) ?? Number.NaN)}`,
  );
} finally {
  watch.abort();
  await replica.stop();
  for (const name of [release, workloads]) await core.deleteNamespace({ name });
}
