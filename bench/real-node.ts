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
import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { AppsV1Api, CoreV1Api, KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { isApiStatus } from "../scripts/cluster/kube-client.ts";
import { REPO_ROOT } from "../scripts/cluster/paths.ts";
import { upPlane } from "../scripts/cluster/plane.ts";
import { progress } from "../scripts/cluster/progress.ts";
import { testImages } from "../scripts/cluster/real-node/images.ts";
import { REAL_NODE_PLACEMENT, realNodeLayout } from "../scripts/cluster/real-node/layout.ts";
import { crictlArgs } from "../scripts/cluster/real-node/real-node.ts";
import { realNodeDeployment } from "../scripts/cluster/real-node/workload.ts";
import { ensureDemoPrepull } from "../scripts/demo/prepull-process.ts";
import { ensureNamespace } from "../scripts/demo/register.ts";
import { RELEASE_NAMESPACE } from "../scripts/demo/workloads.ts";
import { waitFor } from "./reconcile-harness.ts";

const execFileAsync = promisify(execFile);
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
const NAMESPACE = "bench-real-node";
await ensureNamespace(core, RELEASE_NAMESPACE);
await ensureNamespace(core, NAMESPACE);
await ensureDemoPrepull(plane.paths, log, [
  `--prepull-sleeper-image=${testImages("", node.largeImageMib).sleeper.reference}`,
  "--prepull-sleeper-path=/usr/local/bin/prepull-sleep",
]);

async function crictl(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(
    join(plane.state.binDir, "crictl"),
    crictlArgs(layout, "--timeout=15m", ...args),
    {
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  return stdout;
}

async function onNode(): Promise<boolean> {
  const { images } = JSON.parse(await crictl("images", "-o", "json")) as { images: { repoTags: string[] }[] };
  return images.some((i) => i.repoTags.includes(image));
}

/** Removes the image once nothing uses it (prepull's pod of the previous round may still be going). */
async function makeCold(): Promise<void> {
  await waitFor(
    "the image to be removable",
    async () => {
      if (!(await onNode())) return true;
      return crictl("rmi", image).then(
        () => true,
        () => undefined,
      );
    },
    120_000,
    500,
  );
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
async function prepullTime(name: string): Promise<number> {
  const started = performance.now();
  await apps.createNamespacedDeployment({
    namespace: NAMESPACE,
    body: realNodeDeployment({ name, images: [image], optedIn: true }),
  });
  await waitFor("the image on the node", async () => ((await onNode()) ? true : undefined), 600_000, 100);
  return (performance.now() - started) / 1000;
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
for (let pair = 0; pair < pairs; pair++) {
  const coldRun = async () => {
    await makeCold();
    cold.push(await podStart(`cold-${pair}`));
    log(`pair ${pair + 1}: cold pod start ${cold.at(-1)?.toFixed(2)} s`);
  };
  const prepullRun = async () => {
    await makeCold();
    prepulled.push(await prepullTime(`model-${pair}`));
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
  seconds: { cold, warm, prepull: prepulled, directPull: direct },
  medians: { cold: median(cold), warm: median(warm), prepull: median(prepulled), directPull: median(direct) },
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
  `| direct pull through the CRI (the limit) | ${fmt(results.medians.directPull)} s | ${direct.map(fmt).join(", ")} |`,
  `| **prepull's overhead** (prepull ÷ direct pull) | **×${results.prepullOverDirectPull.toFixed(2)}** | |`,
].join("\n");
console.log(`\n${table}\n`);
const out = join(REPO_ROOT, "bench", "results");
await mkdir(out, { recursive: true });
await writeFile(join(out, "real-node.json"), `${JSON.stringify(results, null, 2)}\n`);
await writeFile(
  join(out, "real-node.md"),
  `${table}\n\nCommand: \`npm run bench:real-node -- --pairs ${pairs}\` (${results.date})\n`,
);
log(`wrote bench/results/real-node.json and .md`);
