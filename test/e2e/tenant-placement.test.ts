// Placement never exceeds what the tenant's own pods could get, on the real control plane: the
// DaemonSet controller and the scheduler's view of taints and labels decide where the pre-pull
// pods go, and the reconciler (in this process, default policy) decides what the DaemonSets ask.
import { randomBytes } from "node:crypto";
import type { V1DaemonSet, V1Node, V1Toleration } from "@kubernetes/client-node";
import { NodeV1Api } from "@kubernetes/client-node";
import { Registry } from "prom-client";
import { afterAll, beforeAll, expect, test } from "vitest";
import { daemonSetWith, replicaSettings, waitFor } from "../../bench/reconcile-harness.ts";
import { isApiStatus } from "../../scripts/cluster/kube-client.ts";
import { GPU_TAINT, POOL_LABEL } from "../../scripts/cluster/node-pools.ts";
import { createLogger } from "../../src/log.ts";
import { type RunningReconciler, startReconciler } from "../../src/reconcile/start.ts";
import { adminClients } from "./support/cluster.ts";
import { createNamespace, deleteNamespace, withNamespace } from "./support/namespace.ts";
import { daemonSet, deployment } from "./support/workloads.ts";

const CONTROL_PLANE_TAINT = { key: "node-role.kubernetes.io/control-plane", effect: "NoSchedule" };
const EVERY_TAINT: V1Toleration = { operator: "Exists" };

let releaseNamespace: string;
let reconciler: RunningReconciler | undefined;

beforeAll(async () => {
  releaseNamespace = await createNamespace("prepull-bounds");
  reconciler = await startReconciler({
    kubeConfig: adminClients().kubeConfig,
    settings: replicaSettings(releaseNamespace, `e2e-bounds-${process.pid}`),
    registry: new Registry(),
    logger: createLogger("warn"),
  });
});

afterAll(async () => {
  await reconciler?.stop();
  if (releaseNamespace) await deleteNamespace(releaseNamespace);
});

/** The DaemonSet with `image`, once its controller has observed its current spec. */
async function observedDaemonSetWith(image: string): Promise<V1DaemonSet> {
  const { apps } = adminClients();
  return waitFor(`an observed DaemonSet with ${image}`, async () => {
    const ds = await daemonSetWith(apps, releaseNamespace, image);
    return ds !== undefined && ds.status?.observedGeneration === ds.metadata?.generation ? ds : undefined;
  });
}

async function nodesOfPool(pool: string): Promise<number> {
  const nodes = await adminClients().core.listNode({ labelSelector: `${POOL_LABEL}=${pool}` });
  expect(nodes.items.length).toBeGreaterThan(0);
  return nodes.items.length;
}

async function statusOf(namespace: string, name: string): Promise<string | undefined> {
  const live = await adminClients().apps.readNamespacedDeployment({ namespace, name });
  return live.metadata?.annotations?.["prepull.dev/status"];
}

/** Sets the namespace's annotations (a JSON patch: the client sends patches as JSON patches). */
async function annotateNamespace(name: string, annotations: Record<string, string>): Promise<void> {
  await adminClients().core.patchNamespace({
    name,
    body: [{ op: "add", path: "/metadata/annotations", value: annotations }],
  });
}

async function eventMessages(namespace: string, name: string, reason: string): Promise<string[]> {
  const events = await adminClients().core.listNamespacedEvent({
    namespace,
    fieldSelector: `involvedObject.name=${name},reason=${reason}`,
  });
  return events.items.map((e) => e.message ?? "");
}

test("a wildcard toleration does not reach a tainted control-plane node", async () => {
  const { core, apps } = adminClients();
  const namespace = await withNamespace("bounds-cp");
  // One node of our own, labelled and tainted as a control-plane node, that only this test selects.
  const mark = randomBytes(4).toString("hex");
  const nodeName = `kwok-control-plane-${mark}`;
  const node: V1Node = {
    metadata: {
      name: nodeName,
      annotations: { "kwok.x-k8s.io/node": "fake" },
      labels: {
        "kubernetes.io/hostname": nodeName,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node-role.kubernetes.io/control-plane": "",
        "prepull.dev/e2e-node": mark,
      },
    },
    spec: { taints: [{ ...CONTROL_PLANE_TAINT }] },
  };
  await core.createNode({ body: node });
  try {
    const selector = { "prepull.dev/e2e-node": mark };
    // The node is reachable by a DaemonSet that tolerates every taint: the check below can fail.
    const probe = daemonSet("wildcard-probe", [EVERY_TAINT]);
    if (probe.spec?.template.spec) probe.spec.template.spec.nodeSelector = selector;
    await apps.createNamespacedDaemonSet({ namespace, body: probe });
    await waitFor("the probe DaemonSet to count the control-plane node", async () => {
      const ds = await apps.readNamespacedDaemonSet({ namespace, name: "wildcard-probe" });
      return ds.status?.desiredNumberScheduled === 1 ? true : undefined;
    });

    const image = `registry.example.com/e2e/${namespace}/everywhere:1`;
    await apps.createNamespacedDeployment({
      namespace,
      body: deployment({
        name: "everywhere",
        optedIn: true,
        image,
        replicas: 0,
        nodeSelector: selector,
        tolerations: [EVERY_TAINT, { key: CONTROL_PLANE_TAINT.key, operator: "Exists" }],
      }),
    });
    const ds = await observedDaemonSetWith(image);
    expect(ds.spec?.template.spec?.tolerations).toBeUndefined();
    expect(ds.status?.desiredNumberScheduled).toBe(0);

    const status = await waitFor("the status to say what was dropped", async () => {
      const text = await statusOf(namespace, "everywhere");
      return text?.includes("dropped") ? text : undefined;
    });
    expect(status).toBe(
      "0/0 nodes ready; toleration of every taint dropped: prepull tolerates named taints only; toleration node-role.kubernetes.io/control-plane dropped: prepull never tolerates node-role.kubernetes.io/control-plane",
    );
    const events = await waitFor("the PrepullRestricted Events", async () => {
      const messages = await eventMessages(namespace, "everywhere", "PrepullRestricted");
      return messages.length >= 2 ? messages : undefined;
    });
    expect(events.sort()).toEqual([
      "prepull: toleration node-role.kubernetes.io/control-plane dropped: prepull never tolerates node-role.kubernetes.io/control-plane",
      "prepull: toleration of every taint dropped: prepull tolerates named taints only",
    ]);
  } finally {
    await core.deleteNode({ name: nodeName }).catch((error: unknown) => {
      if (!isApiStatus(error, 404)) throw error;
    });
  }
});

test("with the default policy the GPU pool example still lands on every GPU node", async () => {
  const namespace = await withNamespace("bounds-gpu");
  const image = `registry.example.com/e2e/${namespace}/train:1`;
  await adminClients().apps.createNamespacedDeployment({
    namespace,
    body: deployment({
      name: "train",
      optedIn: true,
      image,
      replicas: 0,
      nodeSelector: { [POOL_LABEL]: "gpu" },
      tolerations: [{ key: GPU_TAINT.key, operator: "Exists", effect: GPU_TAINT.effect }],
    }),
  });
  const ds = await observedDaemonSetWith(image);
  expect(ds.spec?.template.spec?.tolerations).toEqual([
    { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" },
  ]);
  expect(ds.status?.desiredNumberScheduled).toBe(await nodesOfPool("gpu"));
});

test("a namespace's PodNodeSelector keeps the images off other pools, and follows the namespace", async () => {
  const { apps } = adminClients();
  const namespace = await withNamespace("bounds-ns");
  await annotateNamespace(namespace, {
    "scheduler.alpha.kubernetes.io/node-selector": `${POOL_LABEL}=arm64`,
  });
  const image = `registry.example.com/e2e/${namespace}/app:1`;
  // No constraints of its own: without the namespace's selector it would land on every untainted node.
  await apps.createNamespacedDeployment({
    namespace,
    body: deployment({ name: "app", optedIn: true, image, replicas: 0 }),
  });
  const ds = await observedDaemonSetWith(image);
  expect(ds.spec?.template.spec?.nodeSelector).toEqual({
    "kubernetes.io/os": "linux",
    [POOL_LABEL]: "arm64",
  });
  expect(ds.status?.desiredNumberScheduled).toBe(await nodesOfPool("arm64"));

  // The namespace moves to the default pool: the images follow, with no change to the workload.
  await annotateNamespace(namespace, {
    "scheduler.alpha.kubernetes.io/node-selector": `${POOL_LABEL}=default`,
  });
  const moved = await waitFor("the DaemonSet to follow the namespace's selector", async () => {
    const found = await observedDaemonSetWith(image);
    return found.spec?.template.spec?.nodeSelector?.[POOL_LABEL] === "default" ? found : undefined;
  });
  expect(moved.status?.desiredNumberScheduled).toBe(await nodesOfPool("default"));
});

test("a toleration outside the namespace's whitelist is dropped and said on the workload", async () => {
  const { apps } = adminClients();
  const namespace = await withNamespace("bounds-wl");
  await annotateNamespace(namespace, {
    "scheduler.alpha.kubernetes.io/tolerationsWhitelist": JSON.stringify([
      { key: "dedicated", operator: "Exists" },
    ]),
  });
  const image = `registry.example.com/e2e/${namespace}/gpu-app:1`;
  await apps.createNamespacedDeployment({
    namespace,
    body: deployment({
      name: "gpu-app",
      optedIn: true,
      image,
      replicas: 0,
      nodeSelector: { [POOL_LABEL]: "gpu" },
      tolerations: [{ key: GPU_TAINT.key, operator: "Exists", effect: GPU_TAINT.effect }],
    }),
  });
  const ds = await observedDaemonSetWith(image);
  expect(ds.spec?.template.spec?.tolerations).toBeUndefined();
  expect(ds.status?.desiredNumberScheduled).toBe(0);
  expect(
    await waitFor("the note", async () => {
      const text = await statusOf(namespace, "gpu-app");
      return text?.includes("whitelist") ? text : undefined;
    }),
  ).toBe("0/0 nodes ready; toleration nvidia.com/gpu:NoSchedule dropped: not in the namespace's whitelist");
});

test("a RuntimeClass's scheduling is folded in, as the RuntimeClass admission plugin does for pods", async () => {
  const { apps, kubeConfig } = adminClients();
  const node = kubeConfig.makeApiClient(NodeV1Api);
  const namespace = await withNamespace("bounds-rc");
  const runtimeClass = `e2e-arm-${randomBytes(3).toString("hex")}`;
  await node.createRuntimeClass({
    body: {
      metadata: { name: runtimeClass },
      handler: "runc",
      scheduling: { nodeSelector: { [POOL_LABEL]: "arm64" } },
    },
  });
  try {
    const image = `registry.example.com/e2e/${namespace}/sandboxed:1`;
    const body = deployment({ name: "sandboxed", optedIn: true, image, replicas: 0 });
    if (body.spec?.template.spec) body.spec.template.spec.runtimeClassName = runtimeClass;
    await apps.createNamespacedDeployment({ namespace, body });
    const ds = await observedDaemonSetWith(image);
    expect(ds.spec?.template.spec?.nodeSelector).toEqual({
      "kubernetes.io/os": "linux",
      [POOL_LABEL]: "arm64",
    });
    expect(ds.status?.desiredNumberScheduled).toBe(await nodesOfPool("arm64"));
  } finally {
    await node.deleteRuntimeClass({ name: runtimeClass });
  }
});
