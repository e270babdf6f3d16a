// The headline benchmark, on the real node: how long a pod of the large test image takes from
// creation to its container running, cold (image absent: the kubelet pulls through the throttled
// registry) versus after prepull (the image pre-pulled by prepull's DaemonSet). In the same run:
// how long prepull takes from the workload's annotation to the image being on the node, divided
// by a direct pull of the same image through the CRI (the physical limit): prepull's overhead.
//
//   npm run bench:real-node [-- --pairs 3]
//
// Starts (or reuses) the plane with its real node and the demo's prepull. Writes
// bench/results/real-node.json and .md. Pairs alternate their order (cold first, then prepull
// first) so a drift in machine load does not favour one side.
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { AppsV1Api, CoreV1Api, KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { isApiStatus } from "../scripts/cluster/kube-client.ts";
import { REPO_ROOT } from "../scripts/cluster/paths.ts";
import { upPlane } from "../scripts/cluster/plane.ts";
import { progress } from "../scripts/cluster/progress.ts";
import { testImages } from "../scripts/cluster/real-node/images.ts";
import { REAL_NODE_PLACEMENT, realNodeLayout } from "../scripts/cluster/real-node/layout.ts";
import { crictl as runCrictl } from "../scripts/cluster/real-node/real-node.ts";
import { realNodeDeployment } from "../scripts/cluster/real-node/workload.ts";
import { ensureDemoPrepull } from "../scripts/demo/prepull-process.ts";
import { ensureNamespace } from "../scripts/demo/register.ts";
import { DEMO_NAMESPACE, RELEASE_NAMESPACE } from "../scripts/demo/workloads.ts";
import { waitFor } from "./reconcile-harness.ts";

const { values } = parseArgs({ options: { pairs: { type: "string", default: "3" } } });
const pairs = Number(values.pairs);
if (!Number.isInteger(pairs) || pairs < 1 || pairs > 20)
  throw new Error("--pairs must be an integer from 1 to 20");

const log = progress("bench real-node");
const plane = await upPlane({ log });
const node = plane.state.realNode;
if (!node.enabled) throw new Error(`the plane has no real node (${node.reason}); this benchmark needs one`);
const layout = realNodeLayout(plane.paths);
const image = testImages("", node.largeImageMib).large.reference;
const kubeConfig = new KubeConfig();
kubeConfig.loadFromFile(plane.kubeconfig);
const core = kubeConfig.makeApiClient(CoreV1Api);
const apps = kubeConfig.makeApiClient(AppsV1Api);
// A namespace of its own per run, deleted at the end.
const NAMESPACE = `bench-real-node-${randomBytes(3).toString("hex")}`;
// The demo's real-node act leaves a workload that keeps this image pre-pulled: the benchmark
// needs the node to itself.
for (const name of ["model-prepulled", "model-twin"])
  await apps.deleteNamespacedDeployment({ namespace: DEMO_NAMESPACE, name }).then(
    () => log(`deleted the demo's deployment ${DEMO_NAMESPACE}/${name} (it pins the image)`),
    (error: unknown) => {
      if (!isApiStatus(error, 404)) throw error;
    },
  );
await ensureNamespace(core, RELEASE_NAMESPACE);
await ensureNamespace(core, NAMESPACE);
await ensureDemoPrepull(plane.paths, log, [
  `--prepull-sleeper-image=${testImages("", node.largeImageMib).sleeper.reference}`,
  "--prepull-sleeper-path=/usr/local/bin/prepull-sleep",
]);

function crictl(...args: string[]): Promise<string> {
  return runCrictl(plane.state.binDir, layout, "--timeout=15m", ...args);
}

async function onNode(): Promise<boolean> {
  const { images } = JSON.parse(await crictl("images", "-o", "json")) as { images: { repoTags: string[] }[] };
  return images.some((i) => i.repoTags.includes(image));
}

/** Containers on the node (running or exited) that use the image. */
async function containersUsing(): Promise<string[]> {
  const { containers } = JSON.parse(await crictl("ps", "-a", "-o", "json")) as {
    containers: { imageRef: string; labels: Record<string, string> }[];
  };
  const { images } = JSON.parse(await crictl("images", "-o", "json")) as {
    images: { id: string; repoTags: string[] }[];
  };
  const id = images.find((i) => i.repoTags.includes(image))?.id;
  return containers
    .filter((c) => id !== undefined && c.imageRef === id)
    .map((c) => `${c.labels["io.kubernetes.pod.namespace"]}/${c.labels["io.kubernetes.pod.name"]}`);
}

/**
 * Removes the image once nothing on the node uses it (prepull's pod of the previous round may
 * still be going). The CRI removes the name even while a container uses the image, and its
 * content stays, so a "cold" pull would then be a local one: wait until no container holds it.
 */
async function makeCold(): Promise<void> {
  let holders: string[] = [];
  await waitFor(
    "the image to be unused",
    async () => {
      holders = await containersUsing();
      return holders.length === 0 ? true : undefined;
    },
    120_000,
    500,
  ).catch(() => {
    throw new Error(
      `${image} is still used on the node by ${holders.join(", ")}; the benchmark needs it unused`,
    );
  });
  if (await onNode()) await crictl("rmi", image);
}

/** Seconds from the create call to the container running (client clock, 50 ms polls). */
async function podStart(name: string): Promise<number> {
  const body: V1Pod = {
    metadata: { name },
    spec: { ...REAL_NODE_PLACEMENT, terminationGracePeriodSeconds: 1, containers: [{ name: "main", image }] },
  };
  const started = performance.now();
  await core.createNamespacedPod({ namespace: NAMESPACE, body });
  await waitFor(
    `${name} running`,
    async () => {
      const pod = await core.readNamespacedPod({ namespace: NAMESPACE, name });
      return pod.status?.containerStatuses?.[0]?.state?.running ? true : undefined;
    },
    600_000,
    50,
  );
  const seconds = (performance.now() - started) / 1000;
  await core.deleteNamespacedPod({ namespace: NAMESPACE, name, gracePeriodSeconds: 0 });
  await waitFor(
    `${name} gone`,
    () =>
      core.readNamespacedPod({ namespace: NAMESPACE, name }).then(
        () => undefined,
        () => true,
      ),
    60_000,
    200,
  );
  return seconds;
}

/** Seconds from creating an opted-in workload to its image being on the node (asked through the CRI). */
/**
 * Seconds from creating an opted-in workload to its image being on the node (asked through the
 * CRI), and the kubelet's own pull time within it (its Pulled event on the pre-pull pod).
 */
async function prepullTime(name: string): Promise<{ total: number; kubeletPull: number }> {
  const since = Date.now() - 1_000; // event times have 1 s resolution
  const started = performance.now();
  await apps.createNamespacedDeployment({
    namespace: NAMESPACE,
    body: realNodeDeployment({ name, images: [image], optedIn: true }),
  });
  await waitFor("the image on the node", async () => ((await onNode()) ? true : undefined), 600_000, 100);
  const total = (performance.now() - started) / 1000;
  const kubeletPull = await waitFor("the pre-pull pod's Pulled event", async () => {
    const events = await core.listNamespacedEvent({
      namespace: RELEASE_NAMESPACE,
      fieldSelector: "reason=Pulled",
    });
    const pulled = events.items.find(
      (e) =>
        e.message?.startsWith(`Successfully pulled image "${image}"`) &&
        new Date(e.lastTimestamp ?? e.eventTime ?? 0).getTime() >= since,
    );
    const seconds = /in ([\d.]+)s/.exec(pulled?.message ?? "")?.[1];
    return seconds === undefined ? undefined : Number(seconds);
  });
  return { total, kubeletPull };
}

async function dropWorkload(name: string): Promise<void> {
  await apps.deleteNamespacedDeployment({ namespace: NAMESPACE, name }).catch((error: unknown) => {
    if (!isApiStatus(error, 404)) throw error;
  });
}

async function directPull(): Promise<number> {
  await makeCold();
  const started = performance.now();
  await crictl("pull", image);
  return (performance.now() - started) / 1000;
}

const cold: number[] = [];
const warm: number[] = [];
const prepulled: number[] = [];
const direct: number[] = [];
const kubeletPulls: number[] = [];
for (let pair = 0; pair < pairs; pair++) {
  const coldRun = async () => {
    await makeCold();
    cold.push(await podStart(`cold-${pair}`));
    log(`pair ${pair + 1}: cold pod start ${cold.at(-1)?.toFixed(2)} s`);
  };
  const prepullRun = async () => {
    await makeCold();
    const { total, kubeletPull } = await prepullTime(`model-${pair}`);
    prepulled.push(total);
    kubeletPulls.push(kubeletPull);
    warm.push(await podStart(`warm-${pair}`));
    await dropWorkload(`model-${pair}`);
    log(
      `pair ${pair + 1}: prepull ${prepulled.at(-1)?.toFixed(2)} s, then pod start ${warm.at(-1)?.toFixed(2)} s`,
    );
  };
  if (pair % 2 === 0) {
    await coldRun();
    await prepullRun();
  } else {
    await prepullRun();
    await coldRun();
  }
  direct.push(await directPull());
  log(`pair ${pair + 1}: direct CRI pull ${direct.at(-1)?.toFixed(2)} s`);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? Number.NaN) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};
const results = {
  date: new Date().toISOString(),
  image,
  imageMib: node.largeImageMib,
  registryMBps: node.registryBytesPerSecond / 1e6,
  pairs,
  seconds: { cold, warm, prepull: prepulled, kubeletPull: kubeletPulls, directPull: direct },
  medians: {
    cold: median(cold),
    warm: median(warm),
    prepull: median(prepulled),
    kubeletPull: median(kubeletPulls),
    directPull: median(direct),
  },
  speedUp: median(cold) / median(warm),
  prepullOverDirectPull: median(prepulled) / median(direct),
};
const fmt = (n: number) => n.toFixed(2);
const table = [
  `Real node (kubelet + containerd + runc), ${node.largeImageMib} MiB image (${image}), registry throttled to ${results.registryMBps} MB/s, ${pairs} alternating pairs`,
  "",
  "| measure | median | runs (s) |",
  "|---|---|---|",
  `| pod start, cold (creation → running) | ${fmt(results.medians.cold)} s | ${cold.map(fmt).join(", ")} |`,
  `| pod start, after prepull | ${fmt(results.medians.warm)} s | ${warm.map(fmt).join(", ")} |`,
  `| **speed-up** (cold ÷ after prepull) | **×${results.speedUp.toFixed(1)}** | |`,
  `| prepull: annotation → image on the node | ${fmt(results.medians.prepull)} s | ${prepulled.map(fmt).join(", ")} |`,
  `| … of which the kubelet's pull (its Pulled event) | ${fmt(results.medians.kubeletPull)} s | ${kubeletPulls.map(fmt).join(", ")} |`,
  `| direct pull through the CRI (the limit) | ${fmt(results.medians.directPull)} s | ${direct.map(fmt).join(", ")} |`,
  `| **prepull's overhead** (prepull ÷ direct pull) | **×${results.prepullOverDirectPull.toFixed(2)}** | |`,
].join("\n");
console.log(`\n${table}\n`);
await core.deleteNamespace({ name: NAMESPACE });
const out = join(REPO_ROOT, "bench", "results");
await mkdir(out, { recursive: true });
await writeFile(join(out, "real-node.json"), `${JSON.stringify(results, null, 2)}\n`);
await writeFile(
  join(out, "real-node.md"),
  `${table}\n\nCommand: \`npm run bench:real-node -- --pairs ${pairs}\` (${results.date})\n`,
);
log(`wrote bench/results/real-node.json and .md`);
