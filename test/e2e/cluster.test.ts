// The plane itself: kwok's simulated nodes are Ready and shaped like their pools, and the
// controller-manager, scheduler and kwok together run a DaemonSet on exactly the nodes it
// tolerates — the machinery prepull's pre-pull DaemonSets rely on.
import {
  CoreV1Api,
  KubeConfig,
  type V1Node,
  type V1Pod,
  type V1Taint,
  type V1Toleration,
} from "@kubernetes/client-node";
import { describe, expect, test, vi } from "vitest";
import { GPU_TAINT, GPUS_PER_NODE, POOL_LABEL } from "../../scripts/cluster/node-pools.ts";
import { isUsable, listNodes } from "../../scripts/cluster/nodes.ts";
import { adminClients } from "./support/cluster.ts";
import { withNamespace } from "./support/namespace.ts";
import { daemonSet, deployment, GPU_TOLERATION } from "./support/workloads.ts";

/** The simulated nodes (the real node, tainted for its own tests, has its own test file). */
async function poolNodes(): Promise<V1Node[]> {
  return listNodes(adminClients().core, `${POOL_LABEL},type=kwok`);
}

function pool(node: V1Node): string | undefined {
  return node.metadata?.labels?.[POOL_LABEL];
}

/** The scheduling taint check the DaemonSet controller makes (NoSchedule and NoExecute). */
function tolerates(tolerations: readonly V1Toleration[], taint: V1Taint): boolean {
  if (taint.effect === "PreferNoSchedule") return true;
  return tolerations.some(
    (t) =>
      (t.effect === undefined || t.effect === taint.effect) &&
      (t.operator === "Exists"
        ? t.key === undefined || t.key === taint.key
        : t.key === taint.key && t.value === taint.value),
  );
}

async function podsOf(namespace: string, app: string): Promise<V1Pod[]> {
  return (await adminClients().core.listNamespacedPod({ namespace, labelSelector: `app=${app}` })).items;
}

/** Waits until the DaemonSet has one Running, Ready pod on each node it tolerates, and returns them. */
async function runDaemonSet(tolerations: V1Toleration[]): Promise<{ eligible: string[]; pods: V1Pod[] }> {
  const namespace = await withNamespace();
  const nodes = await poolNodes();
  const eligible = nodes
    .filter((node) => (node.spec?.taints ?? []).every((taint) => tolerates(tolerations, taint)))
    .map((node) => node.metadata?.name ?? "")
    .sort();
  await adminClients().apps.createNamespacedDaemonSet({
    namespace,
    body: daemonSet("everywhere", tolerations),
  });

  const pods = await vi.waitFor(
    async () => {
      const status = (await adminClients().apps.readNamespacedDaemonSet({ namespace, name: "everywhere" }))
        .status;
      expect(status?.desiredNumberScheduled).toBe(eligible.length);
      expect(status?.numberReady).toBe(eligible.length);
      const running = (await podsOf(namespace, "everywhere")).filter(
        (pod) => pod.status?.phase === "Running",
      );
      expect(running).toHaveLength(eligible.length);
      return running;
    },
    { timeout: 150_000, interval: 500 },
  );
  return { eligible, pods };
}

describe("the local control plane", () => {
  test("every simulated node is Ready and shaped like its pool", async () => {
    const nodes = await poolNodes();
    const byPool = Object.groupBy(nodes, (node) => pool(node) ?? "none");
    expect(byPool.default?.length).toBeGreaterThan(0);
    expect(byPool.gpu?.length).toBeGreaterThan(0);
    expect(byPool.arm64?.length).toBeGreaterThan(0);
    expect(nodes.filter((node) => !isUsable(node)).map((node) => node.metadata?.name)).toEqual([]);

    for (const node of nodes) {
      const labels = node.metadata?.labels ?? {};
      expect(labels["kubernetes.io/hostname"]).toBe(node.metadata?.name);
      expect(labels["kubernetes.io/os"]).toBe("linux");
      expect(labels["kubernetes.io/arch"]).toBe(pool(node) === "arm64" ? "arm64" : "amd64");
      const taints = node.spec?.taints ?? [];
      if (pool(node) === "gpu") {
        expect(labels["nvidia.com/gpu.present"]).toBe("true");
        expect(taints).toContainEqual(GPU_TAINT);
        expect(node.status?.allocatable?.["nvidia.com/gpu"]).toBe(String(GPUS_PER_NODE));
      } else {
        expect(taints).toEqual([]);
      }
    }
  });

  test("a DaemonSet tolerating the GPU taint runs exactly one pod on every node", async () => {
    const { eligible, pods } = await runDaemonSet([GPU_TOLERATION]);
    expect(eligible.length).toBe((await poolNodes()).length);
    expect(pods.map((pod) => pod.spec?.nodeName).sort()).toEqual(eligible);
  });

  test("a DaemonSet without the toleration runs one pod per node and avoids the GPU pool", async () => {
    const { eligible, pods } = await runDaemonSet([]);
    const gpuNodes = (await poolNodes())
      .filter((node) => pool(node) === "gpu")
      .map((node) => node.metadata?.name);
    expect(eligible.some((name) => gpuNodes.includes(name))).toBe(false);
    expect(pods.map((pod) => pod.spec?.nodeName).sort()).toEqual(eligible);
  });

  test("the scheduler places a GPU Deployment on the GPU pool only", async () => {
    const namespace = await withNamespace();
    const body = deployment({
      name: "gpu-job",
      optedIn: false,
      replicas: 3,
      nodeSelector: { "nvidia.com/gpu.present": "true" },
      tolerations: [GPU_TOLERATION],
    });
    await adminClients().apps.createNamespacedDeployment({ namespace, body });
    const pods = await vi.waitFor(
      async () => {
        const running = (await podsOf(namespace, "gpu-job")).filter((pod) => pod.status?.phase === "Running");
        expect(running).toHaveLength(3);
        return running;
      },
      { timeout: 120_000, interval: 500 },
    );
    const gpuNodes = new Set(
      (await poolNodes()).filter((n) => pool(n) === "gpu").map((n) => n.metadata?.name),
    );
    for (const pod of pods) expect(gpuNodes.has(pod.spec?.nodeName)).toBe(true);
  });

  test("RBAC is enforced on ServiceAccount tokens from the TokenRequest API", async () => {
    const namespace = await withNamespace();
    const { core, kubeConfig } = adminClients();
    // The controller-manager creates each namespace's default ServiceAccount.
    await vi.waitFor(() => core.readNamespacedServiceAccount({ namespace, name: "default" }), {
      timeout: 30_000,
    });
    const token = await core.createNamespacedServiceAccountToken({
      namespace,
      name: "default",
      body: { spec: { audiences: [], expirationSeconds: 600 } },
    });
    expect(token.status?.token).toBeTruthy();

    const asServiceAccount = new KubeConfig();
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error("admin kubeconfig has no cluster");
    asServiceAccount.loadFromClusterAndUser(cluster, { name: "sa", token: token.status?.token });
    const denied = asServiceAccount.makeApiClient(CoreV1Api).listNamespacedSecret({ namespace });
    await expect(denied).rejects.toMatchObject({ code: 403 });
  });
});
