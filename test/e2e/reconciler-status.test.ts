// Status back onto workloads, on the real control plane: the `prepull.dev/status` annotation from
// the DaemonSet pods' container statuses (kwok reports them running), a simulated pull failure
// (a pod's status patched to waiting ErrImagePull, as the kubelet would report it) turning into
// the annotation's failure part, a Warning Event on the workload and the per-image gauges.
import type { CoreV1Event, V1Pod } from "@kubernetes/client-node";
import { Registry } from "prom-client";
import { afterAll, beforeAll, expect, test } from "vitest";
import { daemonSetWith, podsOf, replicaSettings, waitFor } from "../../bench/reconcile-harness.ts";
import { createKubeRest } from "../../src/kube/rest.ts";
import { PULL_FAILED_REASON, STATUS_ANNOTATION } from "../../src/kube/status-writer.ts";
import { createLogger } from "../../src/log.ts";
import { type RunningReconciler, startReconciler } from "../../src/reconcile/start.ts";
import { adminClients } from "./support/cluster.ts";
import { sumOf } from "./support/metrics.ts";
import { createNamespace, deleteNamespace, withNamespace } from "./support/namespace.ts";
import { deployment } from "./support/workloads.ts";

let releaseNamespace: string;
let reconciler: RunningReconciler | undefined;
const registry = new Registry();

beforeAll(async () => {
  releaseNamespace = await createNamespace("prepull-status");
  reconciler = await startReconciler({
    kubeConfig: adminClients().kubeConfig,
    settings: replicaSettings(releaseNamespace, `e2e-status-${process.pid}`),
    registry,
    logger: createLogger("warn"),
  });
});

afterAll(async () => {
  await reconciler?.stop();
  if (releaseNamespace) await deleteNamespace(releaseNamespace);
});

async function statusOf(namespace: string, name: string): Promise<string | undefined> {
  const live = await adminClients().apps.readNamespacedDeployment({ name, namespace });
  return live.metadata?.annotations?.[STATUS_ANNOTATION];
}

async function gauge(name: string, image: string): Promise<number> {
  return sumOf(await registry.metrics(), name, { image });
}

test("the status annotation counts ready nodes; a pull failure shows in it, in an Event and in the gauges", async () => {
  const namespace = await withNamespace("status");
  const image = `registry.example.com/e2e/${namespace}/app:1`;
  await adminClients().apps.createNamespacedDeployment({
    namespace,
    body: deployment({ name: "app", optedIn: true, image, nodeSelector: { "kubernetes.io/arch": "amd64" } }),
  });
  const ds = await waitFor("the DaemonSet", () =>
    daemonSetWith(adminClients().apps, releaseNamespace, image),
  );
  const dsName = ds.metadata?.name ?? "";
  const container = ds.spec?.template.spec?.containers.find((c) => c.image === image)?.name ?? "";

  // amd64 and untainted: the default pool. Every pod running → every node ready.
  const eligible = await waitFor("desiredNumberScheduled", async () => {
    const live = await adminClients().apps.readNamespacedDaemonSet({
      name: dsName,
      namespace: releaseNamespace,
    });
    const desired = live.status?.desiredNumberScheduled ?? 0;
    return desired > 0 ? desired : undefined;
  });
  const allReady = `${eligible}/${eligible} nodes ready`;
  await waitFor(`annotation "${allReady}"`, async () =>
    (await statusOf(namespace, "app")) === allReady ? true : undefined,
  );
  expect(await gauge("prepull_image_nodes_ready", image)).toBe(eligible);
  expect(await gauge("prepull_image_nodes_eligible", image)).toBe(eligible);
  expect(await gauge("prepull_image_nodes_failing", image)).toBe(0);

  // What the kubelet reports when a pull fails; kwok leaves a pod's status alone once it is running.
  const pods = await podsOf(adminClients().core, releaseNamespace, dsName);
  // The second pod carries the barrier below; the plane's default pool has several amd64 nodes.
  if (pods.length < 2) throw new Error(`need two pre-pull pods, found ${pods.length} on ${eligible} nodes`);
  const failPull = async (pod: V1Pod | undefined, reason: string, message: string) => {
    const containerStatuses = (pod?.status?.containerStatuses ?? []).map((status) =>
      status.name === container
        ? {
            name: status.name,
            image: status.image,
            imageID: "",
            ready: false,
            restartCount: 0,
            started: false,
            state: { waiting: { reason, message } },
          }
        : status,
    );
    await createKubeRest(adminClients().kubeConfig).mergePatch(
      `/api/v1/namespaces/${releaseNamespace}/pods/${pod?.metadata?.name ?? ""}/status`,
      { status: { containerStatuses } },
    );
  };
  const message = `failed to pull and unpack image "${image}": not found`;
  await failPull(pods[0], "ErrImagePull", message);

  const failing = `${eligible - 1}/${eligible} nodes ready; 1 failing on 1 node: ErrImagePull ${image}`;
  await waitFor(`annotation "${failing}"`, async () =>
    (await statusOf(namespace, "app")) === failing ? true : undefined,
  );
  expect(await gauge("prepull_image_nodes_failing", image)).toBe(1);
  expect(await gauge("prepull_image_nodes_ready", image)).toBe(eligible - 1);

  const event = await waitFor("a PrepullImagePullFailed Event", async () => {
    const events = await adminClients().core.listNamespacedEvent({ namespace });
    return events.items.find(
      (e: CoreV1Event) => e.reason === PULL_FAILED_REASON && e.involvedObject.name === "app",
    );
  });
  expect(event.type).toBe("Warning");
  expect(event.involvedObject.kind).toBe("Deployment");
  expect(event.message).toContain("ErrImagePull");
  expect(event.message).toContain(message);

  // Only on change: later passes, which still see the same failure, do not repeat the Event. A
  // barrier, not a sleep: the status writer handles one snapshot at a time, in order. A new
  // failure on the second pod makes a pass (P2) that still sees the first; its Event shows P2
  // ran, but P2 may still be writing. A further change after that Event is handled in a later
  // pass, so its Event shows P2 finished, with whatever P2 wrongly repeated already written.
  const pullEvent = (reason: string) =>
    waitFor(`a ${PULL_FAILED_REASON} Event for ${reason}`, async () => {
      const events = await adminClients().core.listNamespacedEvent({ namespace });
      return events.items.find(
        (e: CoreV1Event) => e.reason === PULL_FAILED_REASON && (e.message ?? "").includes(`: ${reason}: `),
      );
    });
  await failPull(pods[1], "ImagePullBackOff", `Back-off pulling image "${image}"`);
  await pullEvent("ImagePullBackOff");
  await failPull(pods[1], "InvalidImageName", `invalid image name "${image}"`);
  await pullEvent("InvalidImageName");
  const events = await adminClients().core.listNamespacedEvent({ namespace });
  const errImagePull = events.items.filter(
    (e) => e.reason === PULL_FAILED_REASON && (e.message ?? "").includes(": ErrImagePull: "),
  );
  expect(errImagePull).toHaveLength(1);
});
