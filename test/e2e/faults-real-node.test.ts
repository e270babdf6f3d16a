// Faults of the real node itself, while prepull's pre-pull pod is really pulling a large image
// (1 GiB by default, through the registry throttled to 100 MB/s, so a pull takes seconds):
// containerd restarted in the middle of the pull, and the kubelet restarted in the middle of one.
// Each ends when the image is in the node's image store and the workload's status says the node
// is ready, and records the time to converge (docs/faults.md).
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { waitFor } from "../../bench/reconcile-harness.ts";
import { clusterPaths } from "../../scripts/cluster/paths.ts";
import { realNodeLayout } from "../../scripts/cluster/real-node/layout.ts";
import {
  type DaemonRestart,
  type RealNodeDaemon,
  restartRealNodeDaemon,
} from "../../scripts/cluster/real-node/real-node.ts";
import { realNodeDeployment } from "../../scripts/cluster/real-node/workload.ts";
import { recordResult } from "../../scripts/faults/results.ts";
import { STATUS_ANNOTATION } from "../../src/kube/status-writer.ts";
import { adminClients } from "./support/cluster.ts";
import { withNamespace } from "./support/namespace.ts";
import {
  hasImage,
  images,
  type RealNodePrepull,
  realNode,
  realNodeTurnedOff,
  removeImage,
  startRealNodePrepull,
} from "./support/real-node.ts";

const execFileAsync = promisify(execFile);
let running: RealNodePrepull | undefined;
const releaseNamespace = () => running?.releaseNamespace ?? "";

/** Blobs containerd is downloading right now (`ctr content active`): a pull in progress. */
async function activeDownloads(): Promise<number> {
  const layout = realNodeLayout(clusterPaths());
  const { stdout } = await execFileAsync(`${inject("kubeBinDir")}/ctr`, [
    `--address=${layout.containerdSocket}`,
    "--namespace=k8s.io",
    "content",
    "active",
  ]);
  // A header line, then one line per ingest.
  return stdout.trim().split("\n").slice(1).filter(Boolean).length;
}

async function statusOf(namespace: string, name: string): Promise<string | undefined> {
  const live = await adminClients().apps.readNamespacedDeployment({ namespace, name });
  return live.metadata?.annotations?.[STATUS_ANNOTATION];
}

/**
 * Creates a workload of `image` (absent from the node), restarts `daemon` while the pre-pull pod
 * is downloading it, and waits for the image and the status. Returns the time to converge.
 */
async function restartDuringPull(
  daemon: RealNodeDaemon,
  image: string,
  restart: DaemonRestart,
): Promise<{ convergeMs: number; downloadsAtRestart: number }> {
  const namespace = await withNamespace(`real-${daemon}`);
  await removeImage(image); // a cold pull
  expect(await hasImage(image)).toBe(false);
  await adminClients().apps.createNamespacedDeployment({
    namespace,
    body: realNodeDeployment({ name: "model", images: [image], optedIn: true }),
  });
  // The pull of this image is under way: the kubelet said so (after the pod's sandbox, whose
  // image may be pulled first), and containerd holds open ingests for its blobs.
  await waitFor(
    `the kubelet pulling ${image}`,
    async () => {
      const events = await adminClients().core.listNamespacedEvent({ namespace: releaseNamespace() });
      return events.items.some((e) => e.reason === "Pulling" && e.message?.includes(`"${image}"`))
        ? true
        : undefined;
    },
    120_000,
    100,
  );
  const downloadsAtRestart = await waitFor(
    `containerd downloading ${image}`,
    async () => {
      const active = await activeDownloads();
      return active > 0 ? active : undefined;
    },
    120_000,
    100,
  );
  await restartRealNodeDaemon(clusterPaths(), inject("kubeBinDir"), realNode(), daemon, restart);
  const restarted = performance.now();
  // Not yet there when the daemon came back: the pull really was cut.
  expect(await hasImage(image)).toBe(false);
  await waitFor(
    "the image on the node and the status saying so",
    async () =>
      (await hasImage(image)) && (await statusOf(namespace, "model")) === "1/1 nodes ready"
        ? true
        : undefined,
    300_000,
    250,
  );
  return { convergeMs: Math.round(performance.now() - restarted), downloadsAtRestart };
}

describe.skipIf(realNodeTurnedOff)("faults of the real node during a pull", () => {
  beforeAll(async () => {
    running = await startRealNodePrepull("prepull-nodefaults");
  });

  afterAll(async () => {
    await running?.stop();
  });

  test("containerd killed mid-pull and started again: the image still arrives, the status recovers", async () => {
    const restart: DaemonRestart = { signal: "SIGKILL", downMs: 2_000 };
    const result = await restartDuringPull("containerd", images().largeTwin, restart);
    await recordResult({
      fault: "containerd-killed-mid-pull",
      convergeMs: result.convergeMs,
      lost: [],
      detail: { downMs: restart.downMs, downloadsAtRestart: result.downloadsAtRestart },
    });
  });

  test("the kubelet restarted mid-pull: the image still arrives, the status recovers", async () => {
    const restart: DaemonRestart = { signal: "SIGTERM", downMs: 5_000 };
    const result = await restartDuringPull("kubelet", images().large, restart);
    await recordResult({
      fault: "kubelet-restarted-mid-pull",
      convergeMs: result.convergeMs,
      lost: [],
      detail: { downMs: restart.downMs, downloadsAtRestart: result.downloadsAtRestart },
    });
  });
});
