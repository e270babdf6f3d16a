// The reconciler against the real control plane with kwok nodes: DaemonSets follow annotated
// workloads through create, update, un-annotate and delete; pool-constrained workloads get
// DaemonSets whose pods land only in their pool; hand edits and deletions are undone; a reconciler
// that was down catches up when it starts.
//
// Every test uses images under its own namespace's name, so workloads left by other test files
// (the reconciler watches every namespace) never disturb what a test asserts.
import type { V1DaemonSet, V1Deployment, V1Node } from "@kubernetes/client-node";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  allImages,
  daemonSetWith,
  imagesOf,
  ownedDaemonSets,
  podsOf,
  replicaSettings,
  waitFor,
} from "../../bench/reconcile-harness.ts";
import { POOL_LABEL } from "../../scripts/cluster/node-pools.ts";
import { createKubeRest } from "../../src/kube/rest.ts";
import { createLogger } from "../../src/log.ts";
import { type RunningReconciler, startReconciler } from "../../src/reconcile/start.ts";
import { adminClients } from "./support/cluster.ts";
import { createNamespace, deleteNamespace, withNamespace } from "./support/namespace.ts";
import { deployment, GPU_TOLERATION } from "./support/workloads.ts";

let releaseNamespace: string;
let reconciler: RunningReconciler | undefined;

async function start(): Promise<RunningReconciler> {
  const { kubeConfig } = adminClients();
  const running = await startReconciler({
    kubeConfig,
    settings: replicaSettings(releaseNamespace, `e2e-${process.pid}-${Date.now()}`),
    registry: new Registry(),
    logger: createLogger("warn"),
  });
  await waitFor("the reconciler's watches to list", async () => (running.ready() ? true : undefined));
  return running;
}

beforeAll(async () => {
  releaseNamespace = await createNamespace("prepull-rec");
  reconciler = await start();
});

afterAll(async () => {
  await reconciler?.stop();
  if (releaseNamespace) await deleteNamespace(releaseNamespace);
});

const image = (namespace: string, name: string, tag = "1") =>
  `registry.example.com/e2e/${namespace}/${name}:${tag}`;

async function create(namespace: string, body: V1Deployment): Promise<void> {
  await adminClients().apps.createNamespacedDeployment({ namespace, body });
}

async function imagesOfNamespace(namespace: string): Promise<string[]> {
  const prefix = `registry.example.com/e2e/${namespace}/`;
  return (await allImages(adminClients().apps, releaseNamespace)).filter((i) => i.startsWith(prefix));
}

/** Waits until the images of this test's namespace in the owned DaemonSets are exactly `expected`. */
async function expectImages(namespace: string, expected: string[]): Promise<void> {
  const want = [...expected].sort();
  let last: string[] = [];
  try {
    await waitFor(`DaemonSet images ${JSON.stringify(want)}`, async () => {
      last = await imagesOfNamespace(namespace);
      return JSON.stringify(last) === JSON.stringify(want) ? true : undefined;
    });
  } catch (error) {
    throw new Error(`${(error as Error).message}; last seen ${JSON.stringify(last)}`);
  }
}

async function nodesByPool(): Promise<Map<string, string>> {
  const nodes: V1Node[] = (await adminClients().core.listNode()).items;
  return new Map(nodes.map((n) => [n.metadata?.name ?? "", n.metadata?.labels?.[POOL_LABEL] ?? ""]));
}

/** Waits until the DaemonSet has its desired pods, all scheduled; returns the pools they are on. */
async function poolsOfPods(ds: V1DaemonSet): Promise<string[]> {
  const { apps, core } = adminClients();
  const name = ds.metadata?.name ?? "";
  const pools = await nodesByPool();
  return waitFor(`pods of ${name}`, async () => {
    const live = await apps.readNamespacedDaemonSet({ name, namespace: releaseNamespace });
    const desired = live.status?.desiredNumberScheduled ?? 0;
    const pods = await podsOf(core, releaseNamespace, name);
    if (desired === 0 || pods.length !== desired) return undefined;
    return [...new Set(pods.map((p) => pools.get(p.spec?.nodeName ?? "") ?? "?"))].sort();
  });
}

describe("DaemonSets follow annotated workloads", () => {
  test("create: an annotated Deployment's image lands in a DaemonSet, an unannotated one's does not", async () => {
    const namespace = await withNamespace("rec");
    await create(namespace, deployment({ name: "plain", optedIn: false, image: image(namespace, "plain") }));
    await create(namespace, deployment({ name: "web", optedIn: true, image: image(namespace, "web") }));
    await expectImages(namespace, [image(namespace, "web")]);

    const ds = await daemonSetWith(adminClients().apps, releaseNamespace, image(namespace, "web"));
    const podSpec = ds?.spec?.template.spec;
    expect(ds?.spec?.updateStrategy?.rollingUpdate?.maxUnavailable).toBe("100%");
    expect(podSpec?.containers.every((c) => c.imagePullPolicy === "IfNotPresent")).toBe(true);
    expect(podSpec?.automountServiceAccountToken).toBe(false);
    expect(ds?.metadata?.annotations?.["prepull.dev/spec-hash"]).toMatch(/^[0-9a-f]{32}$/);
    // No constraints: every untainted node (the default and arm64 pools), never the tainted GPU pool.
    expect(await poolsOfPods(ds ?? {})).toEqual(["arm64", "default"]);
  });

  test("update: an image change replaces the image; un-annotate and delete remove it", async () => {
    const namespace = await withNamespace("rec");
    const { apps } = adminClients();
    const rest = createKubeRest(adminClients().kubeConfig);
    await create(namespace, deployment({ name: "a", optedIn: true, image: image(namespace, "a", "1") }));
    await create(namespace, deployment({ name: "b", optedIn: true, image: image(namespace, "b", "1") }));
    await expectImages(namespace, [image(namespace, "a", "1"), image(namespace, "b", "1")]);

    const path = (name: string) => `/apis/apps/v1/namespaces/${namespace}/deployments/${name}`;
    await rest.request("PATCH", path("a"), {
      contentType: "application/json-patch+json",
      body: [
        { op: "replace", path: "/spec/template/spec/containers/0/image", value: image(namespace, "a", "2") },
      ],
    });
    await expectImages(namespace, [image(namespace, "a", "2"), image(namespace, "b", "1")]);

    await rest.mergePatch(path("a"), { metadata: { annotations: { prepull: null } } });
    await expectImages(namespace, [image(namespace, "b", "1")]);

    await apps.deleteNamespacedDeployment({ name: "b", namespace });
    await expectImages(namespace, []);
  });

  test("a DaemonSet left without images is deleted", async () => {
    const namespace = await withNamespace("rec");
    // A placement of its own (a selector no node has), so no other workload shares its DaemonSet.
    const body = deployment({
      name: "alone",
      optedIn: true,
      image: image(namespace, "alone"),
      nodeSelector: { "prepull.dev/e2e-group": namespace },
    });
    await create(namespace, body);
    await expectImages(namespace, [image(namespace, "alone")]);
    const ds = await daemonSetWith(adminClients().apps, releaseNamespace, image(namespace, "alone"));
    const name = ds?.metadata?.name ?? "";
    expect(imagesOf(ds ?? {})).toEqual([image(namespace, "alone")]);
    expect(ds?.spec?.template.spec?.nodeSelector).toEqual({
      "kubernetes.io/os": "linux",
      "prepull.dev/e2e-group": namespace,
    });

    await adminClients().apps.deleteNamespacedDeployment({ name: "alone", namespace });
    await waitFor(`DaemonSet ${name} to be deleted`, async () => {
      const names = (await ownedDaemonSets(adminClients().apps, releaseNamespace)).map(
        (d) => d.metadata?.name,
      );
      return names.includes(name) ? undefined : true;
    });
  });
});

describe("node pools", () => {
  test("GPU-pool and arm64-pool workloads get DaemonSets whose pods run only in that pool", async () => {
    const namespace = await withNamespace("rec");
    await create(
      namespace,
      deployment({
        name: "train",
        optedIn: true,
        image: image(namespace, "cuda"),
        nodeSelector: { [POOL_LABEL]: "gpu" },
        tolerations: [GPU_TOLERATION],
      }),
    );
    await create(
      namespace,
      deployment({
        name: "edge",
        optedIn: true,
        image: image(namespace, "edge"),
        nodeSelector: { "kubernetes.io/arch": "arm64" },
      }),
    );
    await expectImages(namespace, [image(namespace, "cuda"), image(namespace, "edge")]);
    const { apps } = adminClients();
    const gpu = await daemonSetWith(apps, releaseNamespace, image(namespace, "cuda"));
    const arm = await daemonSetWith(apps, releaseNamespace, image(namespace, "edge"));
    expect(gpu?.metadata?.name).not.toBe(arm?.metadata?.name);
    expect(gpu?.spec?.template.spec?.tolerations).toEqual([
      {
        key: GPU_TOLERATION.key,
        operator: "Equal",
        value: GPU_TOLERATION.value,
        effect: GPU_TOLERATION.effect,
      },
    ]);
    expect(await poolsOfPods(gpu ?? {})).toEqual(["gpu"]);
    expect(await poolsOfPods(arm ?? {})).toEqual(["arm64"]);
  });
});

describe("prepull owns its DaemonSets", () => {
  test("a hand edit of a DaemonSet is undone, a hand deletion is recreated", async () => {
    const namespace = await withNamespace("rec");
    const body = deployment({
      name: "owned",
      optedIn: true,
      image: image(namespace, "owned"),
      nodeSelector: { "prepull.dev/e2e-group": namespace },
    });
    await create(namespace, body);
    await expectImages(namespace, [image(namespace, "owned")]);
    const { apps } = adminClients();
    const rest = createKubeRest(adminClients().kubeConfig);
    const original = await daemonSetWith(apps, releaseNamespace, image(namespace, "owned"));
    const name = original?.metadata?.name ?? "";
    const path = `/apis/apps/v1/namespaces/${releaseNamespace}/daemonsets/${name}`;

    // kubectl-edit style: a different image and a one-at-a-time rollout.
    await rest.request("PATCH", path, {
      contentType: "application/json-patch+json",
      body: [
        {
          op: "replace",
          path: "/spec/template/spec/containers/0/image",
          value: "registry.example.com/hacked:1",
        },
        { op: "replace", path: "/spec/updateStrategy/rollingUpdate/maxUnavailable", value: 1 },
      ],
    });
    const restored = await waitFor("the hand edit to be undone", async () => {
      const live = await apps.readNamespacedDaemonSet({ name, namespace: releaseNamespace });
      const ok =
        JSON.stringify(imagesOf(live)) === JSON.stringify([image(namespace, "owned")]) &&
        live.spec?.updateStrategy?.rollingUpdate?.maxUnavailable === "100%";
      return ok ? live : undefined;
    });
    // Two spec changes: the hand edit, then prepull's restore.
    expect(restored.metadata?.generation).toBe((original?.metadata?.generation ?? 0) + 2);

    await apps.deleteNamespacedDaemonSet({ name, namespace: releaseNamespace });
    const recreated = await waitFor("the deleted DaemonSet to be recreated", async () => {
      const found = (await ownedDaemonSets(apps, releaseNamespace)).find((d) => d.metadata?.name === name);
      return found !== undefined && found.metadata?.uid !== original?.metadata?.uid ? found : undefined;
    });
    expect(imagesOf(recreated)).toEqual([image(namespace, "owned")]);
  });
});

describe("the reconciler is the source of truth", () => {
  test("workloads created while it was stopped are picked up when it starts", async () => {
    const namespace = await withNamespace("rec");
    await reconciler?.stop();
    reconciler = undefined;
    await create(namespace, deployment({ name: "late-1", optedIn: true, image: image(namespace, "late-1") }));
    await create(namespace, deployment({ name: "late-2", optedIn: true, image: image(namespace, "late-2") }));
    expect(await imagesOfNamespace(namespace)).toEqual([]);
    reconciler = await start();
    await expectImages(namespace, [image(namespace, "late-1"), image(namespace, "late-2")]);
  });
});
