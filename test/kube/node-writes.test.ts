import { describe, expect, it } from "vitest";
import type { JsonObject } from "../../src/core/workload.ts";
import { NODE_EVENT_MESSAGE_MAX, patchNode, recordNodeEvent } from "../../src/kube/node-writes.ts";
import { CONTENT_TYPE, KubeApiError, type KubeRest, type RequestOptions } from "../../src/kube/rest.ts";

/** A KubeRest that records requests and answers each with the next scripted outcome. */
function fakeRest(outcomes: (JsonObject | KubeApiError | TypeError)[]) {
  const calls: { method: string; path: string; options?: RequestOptions; body?: JsonObject }[] = [];
  const answer = async () => {
    const next = outcomes.shift() ?? {};
    if (next instanceof Error) throw next;
    return next;
  };
  const rest: KubeRest = {
    request: async (method, path, options) => {
      calls.push({ method, path, ...(options ? { options } : {}) });
      return answer();
    },
    get: answer,
    getOptional: answer,
    apply: answer,
    mergePatch: answer,
    create: async (path, body) => {
      calls.push({ method: "POST", path, body });
      return answer();
    },
    replace: answer,
    delete: answer,
  };
  return { rest, calls };
}

const ops = [
  {
    op: "test" as const,
    path: "/spec/taints/0",
    value: { key: "prepull.dev/not-ready", effect: "NoSchedule" },
  },
  { op: "remove" as const, path: "/spec/taints/0" },
];

describe("patchNode", () => {
  it("sends the operations as a JSON patch to the node", async () => {
    const { rest, calls } = fakeRest([{}]);
    expect(await patchNode(rest, "node-1", ops)).toBe("patched");
    expect(calls).toEqual([
      {
        method: "PATCH",
        path: "/api/v1/nodes/node-1",
        options: { body: ops, contentType: CONTENT_TYPE.jsonPatch },
      },
    ]);
  });

  it.each([
    [422, "Invalid", "changed"],
    [404, "NotFound", "gone"],
  ] as const)("answers %i as %s", async (status, reason, result) => {
    const { rest } = fakeRest([new KubeApiError("PATCH", "/api/v1/nodes/node-1", status, reason, "x")]);
    expect(await patchNode(rest, "node-1", ops)).toBe(result);
  });

  it("throws anything else (403, a broken connection) for the queue to retry", async () => {
    const forbidden = new KubeApiError("PATCH", "/api/v1/nodes/node-1", 403, "Forbidden", "no");
    await expect(patchNode(fakeRest([forbidden]).rest, "node-1", ops)).rejects.toBe(forbidden);
    const broken = new TypeError("fetch failed");
    await expect(patchNode(fakeRest([broken]).rest, "node-1", ops)).rejects.toBe(broken);
  });
});

describe("recordNodeEvent", () => {
  it("creates a core/v1 Event in default about the node, by uid, with the message cut to 1 KiB", async () => {
    const { rest, calls } = fakeRest([{}]);
    const node = { metadata: { name: "node-1", uid: "7f3e" } };
    await recordNodeEvent(
      rest,
      node,
      { type: "Warning", reason: "R", message: "m".repeat(2000) },
      "prepull-0_1",
    );
    expect(calls).toHaveLength(1);
    const [call] = calls;
    expect(call?.path).toBe("/api/v1/namespaces/default/events");
    expect(call?.body).toMatchObject({
      metadata: { namespace: "default" },
      involvedObject: { apiVersion: "v1", kind: "Node", name: "node-1", uid: "7f3e" },
      reason: "R",
      type: "Warning",
      source: { component: "prepull", host: "prepull-0_1" },
      count: 1,
    });
    const message = String(call?.body?.message);
    expect(message).toHaveLength(NODE_EVENT_MESSAGE_MAX);
    expect(message.endsWith("…")).toBe(true);
    const metadata = call?.body?.metadata as JsonObject | undefined;
    expect(String(metadata?.name)).toMatch(/^node-1\.[0-9a-f]{16}$/);
  });
});
