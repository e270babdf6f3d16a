// What the node gate writes: a JSON patch on a Node (the one that removes the gating taint), and
// Events about a Node.
//
// A JSON patch is applied by the API server to the object as stored at that moment (it retries
// internally on its own write conflicts), so the patch carries a `test` op for the taint it
// removes: if the taint list changed since the node was read, the test fails, the server answers
// 422 and nothing is written. The caller re-reads and decides again.
//
// Events about cluster-scoped objects live in the `default` namespace, which is where the kubelet
// and the node controllers put theirs and where `kubectl describe node` finds them (it searches by
// involvedObject kind, name and uid).
import { randomBytes } from "node:crypto";
import type { JsonPatchOperation } from "../core/patch.ts";
import { isJsonObject, type JsonObject } from "../core/workload.ts";
import { collectionPath, objectPath } from "./paths.ts";
import { CONTENT_TYPE, KubeApiError, type KubeRest } from "./rest.ts";

export type NodePatchResult = "patched" | "changed" | "gone";

/** `changed`: a `test` op failed (the node is not what the patch expected); `gone`: no such node. */
export async function patchNode(
  rest: KubeRest,
  name: string,
  operations: readonly JsonPatchOperation[],
): Promise<NodePatchResult> {
  try {
    await rest.request("PATCH", objectPath("Node", undefined, name), {
      body: operations,
      contentType: CONTENT_TYPE.jsonPatch,
    });
    return "patched";
  } catch (error) {
    if (error instanceof KubeApiError && error.status === 404) return "gone";
    // The apiserver's answer to a failed JSON patch `test` (handlers/patch.go: applyJSPatch).
    if (error instanceof KubeApiError && error.status === 422) return "changed";
    throw error;
  }
}

export const NODE_EVENT_MESSAGE_MAX = 1024;

export interface NodeEvent {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}

export async function recordNodeEvent(
  rest: KubeRest,
  node: JsonObject,
  event: NodeEvent,
  reportingInstance: string,
): Promise<void> {
  const metadata = isJsonObject(node.metadata) ? node.metadata : {};
  const name = typeof metadata.name === "string" ? metadata.name : "";
  const timestamp = new Date().toISOString();
  const message =
    event.message.length <= NODE_EVENT_MESSAGE_MAX
      ? event.message
      : `${event.message.slice(0, NODE_EVENT_MESSAGE_MAX - 1)}…`;
  await rest.create(collectionPath("Event", "default"), {
    apiVersion: "v1",
    kind: "Event",
    metadata: { name: `${name}.${randomBytes(8).toString("hex")}`, namespace: "default" },
    involvedObject: {
      apiVersion: "v1",
      kind: "Node",
      name,
      ...(typeof metadata.uid === "string" ? { uid: metadata.uid } : {}),
    },
    reason: event.reason,
    message,
    type: event.type,
    source: { component: "prepull", host: reportingInstance },
    firstTimestamp: timestamp,
    lastTimestamp: timestamp,
    count: 1,
  });
}
