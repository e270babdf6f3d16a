// The real composition, through `node src/main.ts` with a Kubernetes API and the reconciler on:
// the apiserver calls its webhook, its reconciler turns the admitted workload into a pre-pull
// DaemonSet whose pods come up on every node the workload could run on, writes the status back
// onto the workload and exports it on the same /metrics as admission; SIGTERM drains, stops the
// reconciler and hands the Lease back, and the process exits 0.
//
// Images are named after this test's namespace: other reconcilers may share the plane, and their
// DaemonSets never carry these images.
import { CoordinationV1Api, type V1Node } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from "vitest";
import { daemonSetWith, podsOf, waitFor } from "../../bench/reconcile-harness.ts";
import { imageSetDigest } from "../../src/core/images.ts";
import { TRACKED_IMAGES_ANNOTATION } from "../../src/core/mutate.ts";
import { STATUS_ANNOTATION } from "../../src/kube/status-writer.ts";
import { DEFAULT_TIMINGS } from "../../src/reconcile/settings.ts";
import { adminClients } from "./support/cluster.ts";
import { sumOf } from "./support/metrics.ts";
import { createNamespace, deleteNamespace, withNamespace } from "./support/namespace.ts";
import { type RunningPrepull, startPrepull } from "./support/prepull.ts";
import { registerWebhook } from "./support/register-webhook.ts";
import { deployment } from "./support/workloads.ts";

const LEASE = DEFAULT_TIMINGS.leaseName;

let releaseNamespace: string;
let prepull: RunningPrepull;

beforeAll(async () => {
  releaseNamespace = await createNamespace("prepull-main");
  // A shutdown deadline well inside startPrepull's 10 s SIGKILL: exit 0 then means prepull
  // drained, stopped its reconciler and released the Lease before its own deadline.
  prepull = await startPrepull({
    namespace: releaseNamespace,
    reconciler: true,
    env: { SHUTDOWN_TIMEOUT_SECONDS: "5" },
  });
});

afterAll(async () => {
  await prepull?.stop();
  if (releaseNamespace) await deleteNamespace(releaseNamespace);
});

async function holderOfLease(): Promise<string | undefined> {
  const coordination = adminClients().kubeConfig.makeApiClient(CoordinationV1Api);
  const lease = await coordination.readNamespacedLease({
    name: LEASE,
    namespace: releaseNamespace,
  });
  return lease.spec?.holderIdentity;
}

/** Nodes a pod without tolerations or constraints may run on: Linux, schedulable, no taints it must tolerate. */
function eligibleForAnyPod(node: V1Node): boolean {
  const taints = (node.spec?.taints ?? []).filter((taint) => !taint.key.startsWith("node.kubernetes.io/"));
  return (
    node.metadata?.labels?.["kubernetes.io/os"] === "linux" &&
    node.spec?.unschedulable !== true &&
    taints.every((taint) => taint.effect === "PreferNoSchedule")
  );
}

describe("node src/main.ts with the reconciler on", () => {
  test("an admitted Deployment's image is pre-pulled on every eligible node, with status and metrics", async () => {
    const { apps, core } = adminClients();
    const namespace = await withNamespace("main");
    const registration = await registerWebhook({
      target: prepull,
      probeNamespace: namespace,
      onlyNamespaces: [namespace],
    });
    onTestFinished(() => registration.remove());
    // Registration's own probe Deployments are admitted too; count from here.
    const patchedCreates = (text: string) =>
      sumOf(text, "prepull_admission_requests_total", {
        kind: "Deployment",
        operation: "CREATE",
        outcome: "patched",
      });
    const patchedBefore = patchedCreates(await prepull.metrics());

    const image = `registry.example.com/e2e/${namespace}/app:1`;
    await apps.createNamespacedDeployment({
      namespace,
      body: deployment({ name: "app", optedIn: true, image }),
    });

    // Admission: the stored object carries prepull's patch.
    const stored = await apps.readNamespacedDeployment({ namespace, name: "app" });
    expect(stored.metadata?.annotations?.[TRACKED_IMAGES_ANNOTATION]).toBe(imageSetDigest([image]));

    // Reconciler: an owned DaemonSet in the release namespace gets the image...
    const daemonSet = await waitFor(`a DaemonSet with ${image}`, () =>
      daemonSetWith(apps, releaseNamespace, image),
    );
    const name = daemonSet.metadata?.name ?? "";
    expect(daemonSet.metadata?.labels?.["app.kubernetes.io/managed-by"]).toBe("prepull");

    // ...and its pods run on exactly the nodes the workload could run on, one each.
    const eligible = (await core.listNode()).items
      .filter(eligibleForAnyPod)
      .map((node) => node.metadata?.name ?? "")
      .sort();
    expect(eligible.length).toBeGreaterThan(0);
    const running = await waitFor(`${eligible.length} running pods of ${name}`, async () => {
      const pods = await podsOf(core, releaseNamespace, name);
      const nodes = pods
        .filter((pod) => pod.status?.phase === "Running")
        .map((pod) => pod.spec?.nodeName ?? "")
        .sort();
      return nodes.length === eligible.length ? nodes : undefined;
    });
    expect(running).toEqual(eligible);

    // Status back onto the workload...
    const allReady = `${eligible.length}/${eligible.length} nodes ready`;
    let lastStatus: string | undefined;
    try {
      await waitFor(`the status annotation "${allReady}"`, async () => {
        const live = await apps.readNamespacedDeployment({ namespace, name: "app" });
        lastStatus = live.metadata?.annotations?.[STATUS_ANNOTATION];
        return lastStatus === allReady ? true : undefined;
      });
    } catch (error) {
      throw new Error(`${(error as Error).message}; last seen ${JSON.stringify(lastStatus)}`);
    }

    // ...and on the same /metrics as admission.
    const metrics = await waitFor("prepull_image_nodes_ready for the image", async () => {
      const text = await prepull.metrics();
      return sumOf(text, "prepull_image_nodes_ready", { image }) === eligible.length ? text : undefined;
    });
    expect(sumOf(metrics, "prepull_leader")).toBe(1);
    expect(sumOf(metrics, "prepull_image_nodes_eligible", { image })).toBe(eligible.length);
    expect(patchedCreates(metrics)).toBe(patchedBefore + 1);
    // Admission handed off to the reconciler's queue, which drains (a RecordingQueue never would).
    await waitFor("the reconcile queue to drain", async () =>
      sumOf(await prepull.metrics(), "prepull_reconcile_queue_depth") === 0 ? true : undefined,
    );
  });

  test("SIGTERM: exit 0 and the Lease is handed back", async () => {
    // POD_NAME (set by startPrepull) names the holder: <POD_NAME>_<pid>.
    const holder = await waitFor("prepull to hold the Lease", async () => {
      const current = await holderOfLease();
      return current?.startsWith(`e2e-${releaseNamespace}_`) ? current : undefined;
    });
    expect(holder).toMatch(/_\d+$/);

    await prepull.stop();
    expect(await prepull.exited).toEqual({ code: 0, signal: null });
    expect(await holderOfLease()).toBeFalsy();
    const messages = prepull
      .output()
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => (JSON.parse(line) as { msg?: string }).msg);
    expect(messages).toEqual(
      expect.arrayContaining([
        "shutting down: draining in-flight requests",
        "leader election: lease released",
        "reconciler stopped",
        "stopped",
      ]),
    );
    expect(messages.indexOf("stopped")).toBeGreaterThan(messages.indexOf("reconciler stopped"));
  });
});
