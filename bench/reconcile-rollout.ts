// After an image is added to an existing group, how long until every eligible node's DaemonSet pod
// runs the new revision with that image present (from container statuses, as status.ts counts).
// Meant for a large simulated cluster: `npm run cluster:up -- --nodes 1000`, then
//
//   node bench/reconcile-rollout.ts
//
// Reports: time to the DaemonSet spec update, to the first and to the last node with the new image.
import { randomBytes } from "node:crypto";
import { KubeConfig } from "@kubernetes/client-node";
import { clusterPaths } from "../scripts/cluster/paths.ts";
import { podViewOf } from "../src/core/status.ts";
import { createKubeRest } from "../src/kube/rest.ts";
import { ResourceWatch } from "../src/kube/watch.ts";
import { createLogger } from "../src/log.ts";
import { replicaSettings, spawnReplica, waitFor } from "./reconcile-harness.ts";

const kubeconfig = clusterPaths().kubeconfig;
const kubeConfig = new KubeConfig();
kubeConfig.loadFromFile(kubeconfig);
const rest = createKubeRest(kubeConfig);
const logger = createLogger("warn");
const suffix = randomBytes(3).toString("hex");
const release = `prepull-rollout-${suffix}`;
const workloads = `rollout-${suffix}`;
for (const name of [release, workloads]) {
  await rest.create("/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name } });
}

const nodes = await rest.get("/api/v1/nodes");
const nodeCount = Array.isArray(nodes.items) ? nodes.items.length : 0;

const pods = new ResourceWatch({
  kubeConfig,
  rest,
  logger,
  path: `/api/v1/namespaces/${release}/pods`,
  labelSelector: "app.kubernetes.io/managed-by=prepull",
  onEvent: () => {},
});
const daemonSets = new ResourceWatch({
  kubeConfig,
  rest,
  logger,
  path: `/apis/apps/v1/namespaces/${release}/daemonsets`,
  labelSelector: "app.kubernetes.io/managed-by=prepull",
  onEvent: () => {},
});
pods.start();
daemonSets.start();

/** Nodes whose DaemonSet pod has `image` present, and the DaemonSet's desired pod count. */
function progress(image: string): { present: number; desired: number; specHasImage: boolean } {
  const ds = daemonSets.list(release)[0];
  const spec = ds?.spec;
  const status = ds?.status;
  const desired =
    typeof status === "object" && status !== null && "desiredNumberScheduled" in status
      ? Number(status.desiredNumberScheduled)
      : 0;
  const specHasImage = JSON.stringify(spec ?? {}).includes(`"${image}"`);
  const nodesWith = new Set<string>();
  for (const object of pods.list(release)) {
    const view = podViewOf(object);
    if (view === undefined) continue;
    for (const [container, podImage] of Object.entries(view.images)) {
      if (podImage === image && view.presence[container]?.state === "present") nodesWith.add(view.nodeName);
    }
  }
  return { present: nodesWith.size, desired, specHasImage };
}

function deployment(name: string, image: string) {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, annotations: { prepull: "true" } },
    spec: {
      replicas: 0,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: "main", image }] } },
    },
  };
}

const replica = await spawnReplica(
  kubeconfig,
  replicaSettings(release, "bench-rollout", { statusMinIntervalSeconds: 5 }),
);
const deployments = `/apis/apps/v1/namespaces/${workloads}/deployments`;
try {
  await waitFor("the replica to lead", async () => ((await replica.state()).leader ? true : undefined));
  const first = `registry.example.com/bench/${suffix}/base:1`;
  await rest.create(deployments, deployment("base", first));
  const base = performance.now();
  await waitFor(
    "every node to hold the first image",
    async () => {
      const p = progress(first);
      return p.desired > 0 && p.present === p.desired ? true : undefined;
    },
    1_800_000,
    250,
  );
  console.log(
    `${nodeCount} nodes: first image on all eligible nodes after ${Math.round(performance.now() - base)} ms`,
  );

  const added = `registry.example.com/bench/${suffix}/added:1`;
  const started = performance.now();
  await rest.create(deployments, deployment("added", added));
  let specAt = 0;
  let firstNodeAt = 0;
  const done = await waitFor(
    "every node to hold the added image",
    async () => {
      const p = progress(added);
      const now = performance.now() - started;
      if (p.specHasImage && specAt === 0) specAt = now;
      if (p.present > 0 && firstNodeAt === 0) firstNodeAt = now;
      return p.desired > 0 && p.present === p.desired ? { now, nodes: p.desired } : undefined;
    },
    1_800_000,
    100,
  );
  console.log(
    `image added → DaemonSet spec updated ${Math.round(specAt)} ms, first node ${Math.round(firstNodeAt)} ms, ` +
      `all ${done.nodes} eligible nodes ${Math.round(done.now)} ms`,
  );
} finally {
  await replica.stop();
  await Promise.all([pods.stop(), daemonSets.stop()]);
  for (const name of [release, workloads]) await rest.delete(`/api/v1/namespaces/${name}`);
}
