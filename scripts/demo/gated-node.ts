// The node gate in the demo: a new node joins the default pool with prepull's startup taint
// (`prepull.dev/not-ready:NoSchedule`, as `kubelet --register-with-taints` would put it there);
// the demo prints what it goes through: joined, Ready yet gated while its pre-pull pods start,
// released once they run. kwok's simulated kubelets "pull" at once, so this takes seconds here;
// on a real node the gate holds until the real pulls are done (or the deadline passes).
import type { CoreV1Api, V1Node } from "@kubernetes/client-node";
import { isApiStatus } from "../cluster/kube-client.ts";
import { nodeManifest } from "../cluster/node-pools.ts";
import { waitUntil } from "../cluster/probe.ts";
import type { Progress } from "../cluster/progress.ts";

const JOINING_NODE = "kwok-default-joining";
const GATE_TAINT = { key: "prepull.dev/not-ready", effect: "NoSchedule" } as const;

function gated(node: V1Node): boolean {
  return (node.spec?.taints ?? []).some((t) => t.key === GATE_TAINT.key && t.effect === GATE_TAINT.effect);
}

function ready(node: V1Node): boolean {
  return node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

async function readOptional(core: CoreV1Api, name: string): Promise<V1Node | undefined> {
  try {
    return await core.readNode({ name });
  } catch (error) {
    if (isApiStatus(error, 404)) return undefined;
    throw error;
  }
}

/** Re-creates the joining node with the taint and reports each step until prepull releases it. */
export async function showGatedNode(core: CoreV1Api, log: Progress, timeoutSeconds: number): Promise<void> {
  if ((await readOptional(core, JOINING_NODE)) !== undefined) {
    await core.deleteNode({ name: JOINING_NODE });
    await waitUntil(async () => ((await readOptional(core, JOINING_NODE)) === undefined ? true : undefined), {
      what: `the previous ${JOINING_NODE} to be deleted`,
      timeoutMs: 60_000,
    });
  }
  const anyNode = (await core.listNode({ limit: 1 })).items[0];
  const kubeletVersion = anyNode?.status?.nodeInfo?.kubeletVersion ?? "";
  const body = nodeManifest("default", 0, kubeletVersion);
  body.metadata = {
    ...body.metadata,
    name: JOINING_NODE,
    labels: { ...body.metadata?.labels, "kubernetes.io/hostname": JOINING_NODE },
  };
  body.spec = { taints: [{ ...GATE_TAINT }] };
  const started = performance.now();
  const seconds = () => ((performance.now() - started) / 1000).toFixed(1);
  await core.createNode({ body });
  log(`node ${JOINING_NODE} joined with taint ${GATE_TAINT.key}:${GATE_TAINT.effect}: gated`);
  let saidReady = false;
  await waitUntil(
    async () => {
      const node = await readOptional(core, JOINING_NODE);
      if (node === undefined) throw new Error(`node ${JOINING_NODE} disappeared`);
      if (ready(node) && gated(node) && !saidReady) {
        saidReady = true;
        log(`${seconds()} s: ${JOINING_NODE} is Ready but still gated: its pre-pull pods are pulling`);
      }
      return gated(node) ? undefined : true;
    },
    { what: `prepull to release ${JOINING_NODE}`, timeoutMs: timeoutSeconds * 1000, intervalMs: 200 },
  );
  log(`${seconds()} s: ${JOINING_NODE} released: its images are there, workload pods may land on it now`);
}
