// The real node as tests see it: its state from the plane, the CRI (crictl against its
// containerd) for what is really on the node, and workloads pinned to it. A test that needs the
// node fails when the plane has none, unless PREPULL_REAL_NODE=off asked for a plane without it.
import { inject } from "vitest";
import { clusterPaths } from "../../../scripts/cluster/paths.ts";
import { testImages } from "../../../scripts/cluster/real-node/images.ts";
import { realNodeLayout } from "../../../scripts/cluster/real-node/layout.ts";
import { type RealNodeState, crictl as runCrictl } from "../../../scripts/cluster/real-node/real-node.ts";
import { adminClients } from "./cluster.ts";
import { deleteNamespace } from "./namespace.ts";
import { type RunningPrepull, startPrepull } from "./prepull.ts";

/** Skip (say why) only when a person turned the node off; otherwise a missing node is a failure. */
export const realNodeTurnedOff = process.env.PREPULL_REAL_NODE === "off";

export function realNode(): RealNodeState {
  const node = inject("realNode");
  if (!node.enabled) throw new Error(`the plane has no real node: ${node.reason}`);
  return node;
}

/** The references of the images pushed to the node's registry. */
export function images() {
  const all = testImages("", realNode().largeImageMib);
  return Object.fromEntries(Object.entries(all).map(([key, image]) => [key, image.reference])) as Record<
    keyof typeof all,
    string
  >;
}

export interface RealNodePrepull {
  releaseNamespace: string;
  prepull: RunningPrepull;
  stop(): Promise<void>;
}

/**
 * The whole of prepull (src/main.ts, reconciler on) in a fresh release namespace, with the
 * plane's sleeper image (the default one is not in the local registry).
 */
export async function startRealNodePrepull(
  prefix: string,
  labels: Record<string, string> = {},
  env: Record<string, string> = {},
): Promise<RealNodePrepull> {
  realNode(); // fails here, with the plane's reason, when there is no real node
  const releaseNamespace = `${prefix}-${process.pid}`;
  await adminClients().core.createNamespace({ body: { metadata: { name: releaseNamespace, labels } } });
  const prepull = await startPrepull({
    namespace: releaseNamespace,
    reconciler: true,
    env: {
      PREPULL_SLEEPER_IMAGE: images().sleeper,
      PREPULL_SLEEPER_PATH: "/usr/local/bin/prepull-sleep",
      ...env,
    },
  });
  return {
    releaseNamespace,
    prepull,
    stop: async () => {
      await prepull.stop();
      await deleteNamespace(releaseNamespace);
    },
  };
}

/** crictl against the node's containerd; resolves with stdout. */
export function crictl(...args: string[]): Promise<string> {
  return runCrictl(inject("kubeBinDir"), realNodeLayout(clusterPaths()), "--timeout=30s", ...args);
}

export interface NodeImage {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  size: string;
  pinned?: boolean;
}

/** Every image containerd holds for Kubernetes, as the CRI reports it. */
export async function nodeImages(): Promise<NodeImage[]> {
  return (JSON.parse(await crictl("images", "-o", "json")) as { images: NodeImage[] }).images;
}

export async function hasImage(reference: string): Promise<boolean> {
  return (await nodeImages()).some((image) => image.repoTags.includes(reference));
}

/** Removes an image from the node (a cold start next time); a missing image is fine. */
export async function removeImage(reference: string): Promise<void> {
  if (await hasImage(reference)) await crictl("rmi", reference);
}

export interface CriContainer {
  id: string;
  podSandboxId: string;
  metadata: { name: string };
  image: { image: string };
  imageRef: string;
  state: string;
  labels: Record<string, string>;
}

/** Containers (running and exited) the CRI knows, with the image each one uses. */
export async function nodeContainers(): Promise<CriContainer[]> {
  return (JSON.parse(await crictl("ps", "-a", "-o", "json")) as { containers: CriContainer[] }).containers;
}
