// Creates the simulated nodes (kwok makes them Ready and keeps them so) and waits for them.
import type { CoreV1Api, V1Node } from "@kubernetes/client-node";
import { forEachConcurrent } from "./concurrency.ts";
import { isApiStatus } from "./kube-client.ts";
import { nodeManifest, nodeNames, POOL_LABEL, type PoolSizes } from "./node-pools.ts";
import { waitUntil } from "./probe.ts";
import type { Progress } from "./progress.ts";

// Enough to keep a 2-core apiserver busy without queueing in its inflight limit.
const CREATE_CONCURRENCY = 32;

export async function listNodes(core: CoreV1Api, labelSelector?: string): Promise<V1Node[]> {
  const nodes: V1Node[] = [];
  let token: string | undefined;
  do {
    const page = await core.listNode({ labelSelector, limit: 500, _continue: token });
    nodes.push(...page.items);
    token = page.metadata?._continue || undefined;
  } while (token);
  return nodes;
}

export function isReady(node: V1Node): boolean {
  return node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

/**
 * Ready, and the node lifecycle controller has caught up: it lifts the `node.kubernetes.io/not-ready`
 * taint a few seconds after Ready (longer with 1000 new nodes), and until then nothing schedules there.
 */
export function isUsable(node: V1Node): boolean {
  return (
    isReady(node) && !(node.spec?.taints ?? []).some((taint) => taint.key.startsWith("node.kubernetes.io/"))
  );
}

/** Makes the pools exactly these sizes: creates missing nodes, deletes ours beyond the sizes. */
export async function reconcileNodePools(
  core: CoreV1Api,
  sizes: PoolSizes,
  kubeletVersion: string,
  log: Progress,
): Promise<void> {
  const wanted = nodeNames(sizes);
  const wantedNames = new Set(wanted.map((n) => n.name));
  // Simulated nodes only: the real node has a pool label too, and is not ours to delete here.
  const existing = new Set(
    (await listNodes(core, `${POOL_LABEL},type=kwok`)).map((n) => n.metadata?.name ?? ""),
  );
  const missing = wanted.filter((n) => !existing.has(n.name));
  const extra = [...existing].filter((name) => !wantedNames.has(name));
  if (missing.length > 0) log(`creating ${missing.length} simulated nodes (${describe(sizes)})`);
  let created = 0;
  await forEachConcurrent(missing, CREATE_CONCURRENCY, async ({ pool, index }) => {
    try {
      await core.createNode({ body: nodeManifest(pool, index, kubeletVersion) });
    } catch (error) {
      if (!isApiStatus(error, 409)) throw error;
    }
    created++;
    if (missing.length >= 200 && created % 200 === 0) log(`created ${created}/${missing.length} nodes`);
  });
  if (extra.length > 0) log(`deleting ${extra.length} nodes beyond the requested pool sizes`);
  await forEachConcurrent(extra, CREATE_CONCURRENCY, async (name) => {
    try {
      await core.deleteNode({ name });
    } catch (error) {
      if (!isApiStatus(error, 404)) throw error;
    }
  });
}

export function describe(sizes: PoolSizes): string {
  return Object.entries(sizes)
    .map(([pool, size]) => `${pool} ${size}`)
    .join(", ");
}

export async function waitForReadyNodes(
  core: CoreV1Api,
  sizes: PoolSizes,
  log: Progress,
  timeoutMs = 300_000,
): Promise<void> {
  const wanted = new Set(nodeNames(sizes).map((n) => n.name));
  let lastReported = -1;
  await waitUntil(
    async () => {
      const ready = (await listNodes(core, POOL_LABEL)).filter(
        (node) => wanted.has(node.metadata?.name ?? "") && isUsable(node),
      ).length;
      if (
        ready !== lastReported &&
        (wanted.size < 50 || ready === wanted.size || ready - lastReported >= 100)
      ) {
        log(`nodes Ready and untainted: ${ready}/${wanted.size}`);
        lastReported = ready;
      }
      return ready === wanted.size ? true : undefined;
    },
    {
      what: `${wanted.size} Ready nodes (is kwok running? see logs/kwok-controller.log)`,
      timeoutMs,
      // Listing 1000 nodes is megabytes of JSON: do not make the busy apiserver do it twice a second.
      intervalMs: wanted.size > 100 ? 3_000 : 500,
    },
  );
}
