// What a user waits for after `helm install`: the time until the webhook answers /readyz on the
// real node, and the memory one replica then holds. Each round installs the chart (the image
// built by `npm run image:build`, cert-manager issuing its certificates) into a fresh namespace
// and polls both pods' /readyz from the host; once, the image is first removed from the node, so
// that round includes the pull through the throttled registry.
//
//   npm run bench:chart-real-node [-- --rounds 3]
//
// Starts (or reuses) the plane with its real node; builds and pushes the image; runs cert-manager's
// controller and cainjector (test/support/cert-manager-lite) for the run. Writes
// bench/results/chart-real-node.json and .md.
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { REPO_ROOT } from "../scripts/cluster/paths.ts";
import { upPlane } from "../scripts/cluster/plane.ts";
import { progress } from "../scripts/cluster/progress.ts";
import { REAL_NODE_PLACEMENT, realNodeLayout } from "../scripts/cluster/real-node/layout.ts";
import { crictlArgs } from "../scripts/cluster/real-node/real-node.ts";
import { buildImage, sleeperBinaries } from "../scripts/image/build-image.ts";
import { LOCAL_IMAGE } from "../scripts/image/recipe.ts";
import { certManagerLiteBinary, thirdPartyCrdFiles } from "../test/support/cert-manager.ts";
import { waitFor } from "./reconcile-harness.ts";

const execFileAsync = promisify(execFile);
const { values } = parseArgs({ options: { rounds: { type: "string", default: "3" } } });
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20)
  throw new Error("--rounds must be an integer from 1 to 20");

const log = progress("bench chart-real-node");
const plane = await upPlane({ log });
const node = plane.state.realNode;
if (!node.enabled) throw new Error(`the plane has no real node (${node.reason}); this benchmark needs one`);
const bin = (name: string) => join(plane.state.binDir, name);
const kubeConfig = new KubeConfig();
kubeConfig.loadFromFile(plane.kubeconfig);
const core = kubeConfig.makeApiClient(CoreV1Api);
const repository = `registry.prepull.test/${LOCAL_IMAGE.repository}`;

const built = await buildImage({
  target: `127.0.0.1:${node.ports.registry}/${LOCAL_IMAGE.repository}:${LOCAL_IMAGE.tag}`,
  craneBinary: bin("crane"),
  sleeperBinaries: sleeperBinaries(plane.state.binDir),
  log,
});
log(
  `image ${built.digest}: ${(built.compressedBytes / 2 ** 20).toFixed(1)} MiB, built in ${built.seconds.toFixed(0)} s`,
);

await execFileAsync(bin("kubectl"), [
  "--kubeconfig",
  plane.kubeconfig,
  "apply",
  "--server-side",
  "--field-manager=prepull-bench",
  ...thirdPartyCrdFiles().flatMap((f) => ["-f", f]),
]);
const certManager = ["controller", "cainjector"].map((part) =>
  spawn(certManagerLiteBinary(), [part], {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", KUBECONFIG: plane.kubeconfig },
    stdio: "ignore",
  }),
);

const work = await mkdtemp(join(tmpdir(), "prepull-bench-chart-"));
const valuesFile = join(work, "values.json");
await writeFile(
  valuesFile,
  JSON.stringify({
    image: { repository, digest: built.digest },
    ...REAL_NODE_PLACEMENT,
    extraEnv: [
      { name: "KUBERNETES_SERVICE_HOST", value: node.apiserverForPods.host },
      { name: "KUBERNETES_SERVICE_PORT", value: String(node.apiserverForPods.port) },
    ],
  }),
);

async function helm(...args: string[]): Promise<void> {
  const home = join(work, "helm-home");
  await execFileAsync(bin("helm"), [...args, "--kubeconfig", plane.kubeconfig], {
    env: {
      PATH: process.env.PATH ?? "",
      HOME: home,
      HELM_CACHE_HOME: join(home, "c"),
      HELM_CONFIG_HOME: join(home, "g"),
      HELM_DATA_HOME: join(home, "d"),
    },
  });
}

async function crictl(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(bin("crictl"), crictlArgs(realNodeLayout(plane.paths), ...args));
  return stdout;
}

/** 200 from the pod's /readyz (TLS is checked by the e2e test; here only the answer's time counts). */
function readyz(ip: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      { host: ip, port: 8443, path: "/readyz", rejectUnauthorized: false, timeout: 1_000 },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

/** VmRSS of the server (the container's process 1), read on the host through the CRI's pid. */
async function rssMiB(podName: string, namespace: string): Promise<number> {
  const containers = JSON.parse(
    await crictl(
      "ps",
      "-o",
      "json",
      "--pod",
      (
        JSON.parse(await crictl("pods", "-o", "json", "--name", podName, "--namespace", namespace)) as {
          items: { id: string }[];
        }
      ).items[0]?.id ?? "",
    ),
  ) as { containers: { id: string }[] };
  const inspect = JSON.parse(await crictl("inspect", containers.containers[0]?.id ?? "")) as {
    info: { pid: number };
  };
  const status = await readFile(`/proc/${inspect.info.pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) / 1024;
}

interface Round {
  cold: boolean;
  firstReadySeconds: number;
  bothReadySeconds: number;
  /** When cert-manager's Secret first existed (the pods cannot start without it). */
  secretSeconds: number;
  /** Per pod: from the container's start (the kubelet's startedAt, whole seconds) to /readyz. */
  serverStartSeconds: number[];
  rssMiB: number[];
}
const results: Round[] = [];
for (let round = 0; round < rounds; round++) {
  const cold = round === 0;
  if (cold) await crictl("rmi", `${repository}@${built.digest}`).catch(() => undefined);
  const namespace = `bench-chart-${randomBytes(3).toString("hex")}`;
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const release = "bench";
  const started = performance.now();
  const startedWall = Date.now();
  let secretSeconds = Number.NaN;
  await helm(
    "install",
    release,
    join(REPO_ROOT, "charts/prepull"),
    "--namespace",
    namespace,
    "--values",
    valuesFile,
  );
  const readyAt = new Map<string, number>();
  await waitFor(
    "both replicas to answer /readyz",
    async () => {
      if (Number.isNaN(secretSeconds)) {
        const secrets = await core.listNamespacedSecret({
          namespace,
          fieldSelector: "metadata.name=bench-prepull-tls",
        });
        if (secrets.items.length > 0) secretSeconds = (performance.now() - started) / 1000;
      }
      const pods = await core.listNamespacedPod({
        namespace,
        labelSelector: "app.kubernetes.io/component=webhook",
      });
      for (const pod of pods.items) {
        const ip = pod.status?.podIP;
        const name = pod.metadata?.name ?? "";
        if (ip && !readyAt.has(name) && (await readyz(ip)))
          readyAt.set(name, (performance.now() - started) / 1000);
      }
      return readyAt.size >= 2 ? true : undefined;
    },
    300_000,
    100,
  );
  // Let start-up work (informers' first lists, the first reconcile) settle before reading memory.
  await new Promise((r) => setTimeout(r, 10_000));
  const rss = await Promise.all([...readyAt.keys()].map((name) => rssMiB(name, namespace)));
  const times = [...readyAt.values()].sort((a, b) => a - b);
  const pods = await core.listNamespacedPod({
    namespace,
    labelSelector: "app.kubernetes.io/component=webhook",
  });
  const serverStartSeconds = pods.items.flatMap((pod) => {
    const runningSince = pod.status?.containerStatuses?.[0]?.state?.running?.startedAt;
    const ready = readyAt.get(pod.metadata?.name ?? "");
    if (runningSince === undefined || ready === undefined) return [];
    return [ready - (new Date(runningSince).getTime() - startedWall) / 1000];
  });
  results.push({
    cold,
    firstReadySeconds: times[0] ?? Number.NaN,
    bothReadySeconds: times[1] ?? Number.NaN,
    secretSeconds,
    serverStartSeconds,
    rssMiB: rss,
  });
  log(
    `round ${round + 1}${cold ? " (image not on the node)" : ""}: /readyz after ${times.map((t) => t.toFixed(2)).join(", ")} s; RSS ${rss.map((r) => r.toFixed(0)).join(", ")} MiB`,
  );
  await helm("uninstall", release, "--namespace", namespace, "--wait");
  await core.deleteNamespace({ name: namespace });
}
for (const child of certManager) child.kill("SIGTERM");
await rm(work, { recursive: true, force: true });

const warm = results.filter((r) => !r.cold);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? Number.NaN) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};
const summary = {
  date: new Date().toISOString(),
  image: {
    reference: `${repository}@${built.digest}`,
    compressedMiB: built.compressedBytes / 2 ** 20,
    unpackedMiB: built.uncompressedBytes / 2 ** 20,
    buildSeconds: built.seconds,
    node: built.nodeVersion,
  },
  registryMBps: node.registryBytesPerSecond / 1e6,
  rounds: results,
  medians: {
    warmBothReadySeconds: median(warm.map((r) => r.bothReadySeconds)),
    rssMiB: median(results.flatMap((r) => r.rssMiB)),
    secretSeconds: median(results.map((r) => r.secretSeconds)),
    serverStartSeconds: median(results.flatMap((r) => r.serverStartSeconds)),
  },
};
const fmt = (n: number) => n.toFixed(2);
const table = [
  `prepull's chart on the real node (kubelet + containerd + runc), image ${summary.image.compressedMiB.toFixed(1)} MiB compressed (${summary.image.unpackedMiB.toFixed(0)} MiB unpacked, built without Docker in ${summary.image.buildSeconds.toFixed(0)} s), cert-manager issuing, registry throttled to ${summary.registryMBps} MB/s`,
  "",
  "| measure | median | runs |",
  "|---|---|---|",
  `| helm install → both replicas answer /readyz, image on the node | ${fmt(summary.medians.warmBothReadySeconds)} s | ${warm.map((r) => fmt(r.bothReadySeconds)).join(", ")} s |`,
  `| helm install → both replicas answer /readyz, image pulled first | | ${results
    .filter((r) => r.cold)
    .map((r) => fmt(r.bothReadySeconds))
    .join(", ")} s |`,
  `| of which: helm install → cert-manager's Secret exists | ${fmt(summary.medians.secretSeconds)} s | ${results.map((r) => fmt(r.secretSeconds)).join(", ")} s |`,
  `| of which: container started → its /readyz (±1 s: startedAt has whole seconds) | ${fmt(summary.medians.serverStartSeconds)} s | ${results.flatMap((r) => r.serverStartSeconds.map(fmt)).join(", ")} s |`,
  `| RSS of one replica, 10 s after ready | ${summary.medians.rssMiB.toFixed(0)} MiB | ${results.flatMap((r) => r.rssMiB.map((m) => m.toFixed(0))).join(", ")} MiB |`,
].join("\n");
console.log(`\n${table}\n`);
const out = join(REPO_ROOT, "bench", "results");
await mkdir(out, { recursive: true });
await writeFile(join(out, "chart-real-node.json"), `${JSON.stringify(summary, null, 2)}\n`);
await writeFile(
  join(out, "chart-real-node.md"),
  `${table}\n\nCommand: \`npm run bench:chart-real-node -- --rounds ${rounds}\` (${summary.date})\n`,
);
log("wrote bench/results/chart-real-node.json and .md");
