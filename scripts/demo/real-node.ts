// The demo's second act, on the real node: the same large image size for two workloads, one opted
// in and its twin not. prepull pulls the opted-in one's image onto the node ahead of time; then
// both scale onto the node at once, and the table shows each pod's wait side by side: the twin's
// real pull in progress, then each pod's time from creation to running.
import type { AppsV1Api, CoreV1Api, V1Pod } from "@kubernetes/client-node";
import { isApiStatus } from "../cluster/kube-client.ts";
import type { ClusterPaths } from "../cluster/paths.ts";
import type { Progress } from "../cluster/progress.ts";
import { testImages } from "../cluster/real-node/images.ts";
import { REAL_NODE_NAME, realNodeLayout } from "../cluster/real-node/layout.ts";
import { crictl, type RealNodeState } from "../cluster/real-node/real-node.ts";
import { realNodeDeployment } from "../cluster/real-node/workload.ts";
import { DEMO_NAMESPACE } from "./workloads.ts";

const STATUS_ANNOTATION = "prepull.dev/status";

interface Twin {
  name: string;
  image: string;
  optedIn: boolean;
}

export interface RealNodeActOptions {
  paths: ClusterPaths;
  binDir: string;
  node: RealNodeState;
  core: CoreV1Api;
  apps: AppsV1Api;
  log: Progress;
  timeoutSeconds: number;
}

interface Row {
  twin: Twin;
  prepullDoneAt?: number;
  scaledAt?: number;
  pod?: V1Pod;
  pullingSince?: number;
  pullMessage?: string;
  runningAfter?: number;
}

/** Runs the act; resolves with one line saying what it showed. */
export async function realNodeAct(options: RealNodeActOptions): Promise<string> {
  const { core, apps, log } = options;
  const all = testImages("", options.node.largeImageMib);
  const twins: Twin[] = [
    { name: "model-prepulled", image: all.large.reference, optedIn: true },
    { name: "model-twin", image: all.largeTwin.reference, optedIn: false },
  ];
  // A rerun starts cold again: no pods of either, neither image on the node.
  for (const twin of twins) await deleteDeployment(apps, twin.name);
  await waitForNoPods(core, twins);
  for (const twin of twins)
    await crictl(options.binDir, realNodeLayout(options.paths), "rmi", twin.image).catch(() => undefined);

  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  const rows: Row[] = twins.map((twin) => ({ twin }));
  for (const twin of twins)
    await apps.createNamespacedDeployment({
      namespace: DEMO_NAMESPACE,
      body: realNodeDeployment({
        name: twin.name,
        images: [twin.image],
        optedIn: twin.optedIn,
        namespace: DEMO_NAMESPACE,
      }),
    });
  log(
    `real node: applied ${twins.map((t) => t.name).join(" and ")} (${options.node.largeImageMib} MiB images, 0 replicas)`,
  );

  let lastPrinted: Printed = { text: "", at: -Infinity, lines: 0 };
  for (;;) {
    const now = seconds();
    for (const row of rows) await observe(options, row, now);
    const prepulled = rows[0];
    if (prepulled && prepulled.prepullDoneAt !== undefined && rows.every((r) => r.scaledAt === undefined)) {
      for (const row of rows) {
        await apps.patchNamespacedDeployment({
          namespace: DEMO_NAMESPACE,
          name: row.twin.name,
          body: [{ op: "replace", path: "/spec/replicas", value: 1 }],
        });
        row.scaledAt = seconds();
      }
    }
    lastPrinted = printTable(rows, now, options.node, lastPrinted);
    const [prepulledRow, twinRow] = rows;
    if (prepulledRow?.runningAfter !== undefined && twinRow?.runningAfter !== undefined)
      return (
        `On the real node, the pod of the opted-in workload started in ${wholeSeconds(prepulledRow.runningAfter)}, ` +
        `its twin's (not opted in) in ${wholeSeconds(twinRow.runningAfter)}: the twin pulled its ` +
        `${options.node.largeImageMib} MiB image first; prepull had pulled the other one ahead of time.`
      );
    if (now > options.timeoutSeconds)
      throw new Error(`the real node's act did not finish in ${options.timeoutSeconds}s`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/** API timestamps have 1 s resolution: a start within the same second reads "under 1 s". */
function wholeSeconds(value: number): string {
  return value < 1 ? "under 1 s" : `${value.toFixed(0)} s`;
}

async function observe(options: RealNodeActOptions, row: Row, now: number): Promise<void> {
  const { core, apps } = options;
  if (row.twin.optedIn && row.prepullDoneAt === undefined) {
    const live = await apps.readNamespacedDeployment({ namespace: DEMO_NAMESPACE, name: row.twin.name });
    if (live.metadata?.annotations?.[STATUS_ANNOTATION] === "1/1 nodes ready") row.prepullDoneAt = now;
  }
  if (row.scaledAt === undefined || row.runningAfter !== undefined) return;
  const pods = await core.listNamespacedPod({
    namespace: DEMO_NAMESPACE,
    labelSelector: `app=${row.twin.name}`,
  });
  const pod = pods.items.find((p) => p.metadata?.deletionTimestamp === undefined);
  if (!pod) return;
  row.pod = pod;
  const events = await core.listNamespacedEvent({
    namespace: DEMO_NAMESPACE,
    fieldSelector: `involvedObject.name=${pod.metadata?.name}`,
  });
  for (const event of events.items) {
    if (event.reason === "Pulling") row.pullingSince ??= now;
    if (event.reason === "Pulled") row.pullMessage = event.message;
  }
  const running = pod.status?.containerStatuses?.[0]?.state?.running?.startedAt;
  const created = pod.metadata?.creationTimestamp;
  if (running && created) {
    // The kubelet's and the apiserver's clocks are this machine's: a fair creation → running.
    row.runningAfter = (new Date(running).getTime() - new Date(created).getTime()) / 1000;
  }
}

interface Printed {
  /** The table without its clocks: a new one is printed (off a terminal) only when this changes. */
  text: string;
  at: number;
  /** Lines drawn last time, to redraw in place on a terminal. */
  lines: number;
}

function printTable(rows: Row[], now: number, node: RealNodeState, last: Printed): Printed {
  const lines = [
    `real node "${REAL_NODE_NAME}": kubelet + containerd + runc on this machine, registry at ${(node.registryBytesPerSecond / 1e6).toFixed(0)} MB/s  +${now.toFixed(0)}s`,
    "(every other node in this plane is simulated by kwok)",
    `  ${"workload".padEnd(17)}${"prepull".padEnd(9)}${"pre-pull on the node".padEnd(24)}pod: creation → running (API timestamps, 1 s resolution)`,
  ];
  for (const row of rows) {
    const prepull = row.twin.optedIn
      ? row.prepullDoneAt === undefined
        ? `pulling… ${now.toFixed(0)} s`
        : `done in ${row.prepullDoneAt.toFixed(1)} s`
      : "—";
    let start = "not scaled yet";
    if (row.scaledAt !== undefined) start = "pod pending";
    if (row.pullingSince !== undefined) start = `pulling the image… ${(now - row.pullingSince).toFixed(0)} s`;
    if (row.runningAfter !== undefined)
      start = `${wholeSeconds(row.runningAfter)}${row.pullMessage?.includes("already present") ? " (image already on the node)" : row.pullMessage ? " (pulled at start)" : ""}`;
    lines.push(
      `  ${row.twin.name.padEnd(17)}${(row.twin.optedIn ? "yes" : "no").padEnd(9)}${prepull.padEnd(24)}${start}`,
    );
  }
  const text = lines.join("\n");
  if (process.stdout.isTTY) {
    process.stdout.write(`${last.lines > 0 ? `\x1b[${last.lines}F\x1b[J` : ""}${text}\n`);
    // Rows on screen: a line longer than the terminal wraps onto several.
    const columns = Math.max(process.stdout.columns ?? 80, 1);
    return {
      text,
      at: now,
      lines: lines.reduce((n, line) => n + Math.max(1, Math.ceil(line.length / columns)), 0),
    };
  }
  // Off a terminal: a new table when something other than a clock changed, or every 10 s.
  const withoutClocks = text.replace(/\d+(\.\d+)? s\b|\+\d+s/g, "#");
  if (withoutClocks === last.text && now - last.at < 10) return last;
  process.stdout.write(`${text}\n\n`);
  return { text: withoutClocks, at: now, lines: 0 };
}

async function deleteDeployment(apps: AppsV1Api, name: string): Promise<void> {
  try {
    await apps.deleteNamespacedDeployment({
      namespace: DEMO_NAMESPACE,
      name,
      propagationPolicy: "Foreground",
    });
  } catch (error) {
    if (!isApiStatus(error, 404)) throw error;
  }
}

async function waitForNoPods(core: CoreV1Api, twins: Twin[]): Promise<void> {
  for (let i = 0; i < 120; i++) {
    let left = 0;
    for (const twin of twins)
      left += (await core.listNamespacedPod({ namespace: DEMO_NAMESPACE, labelSelector: `app=${twin.name}` }))
        .items.length;
    if (left === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error("the real node's pods from an earlier demo run did not go away");
}
