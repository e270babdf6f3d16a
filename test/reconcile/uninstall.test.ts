// What the uninstall removes, against a small in-memory API: prepull's DaemonSets and Secrets by
// its labels only, both annotations from every workload that has one (across pages, a workload
// deleted meanwhile is fine), the gating taint from the nodes that carry it (a node whose taints
// changed is re-read), and nothing else. The Lease and the real apiserver are in
// test/e2e/uninstall.test.ts.
import { describe, expect, it } from "vitest";
import type { JsonObject } from "../../src/core/workload.ts";
import { KubeApiError, type KubeRest, type Query, type RequestOptions } from "../../src/kube/rest.ts";
import { removeLeftovers } from "../../src/reconcile/uninstall.ts";

const SELECTOR =
  "app.kubernetes.io/component=image-cache,app.kubernetes.io/instance=prepull,app.kubernetes.io/managed-by=prepull,app.kubernetes.io/name=prepull";
const GATE = { taintKey: "prepull.dev/not-ready", taintEffect: "NoSchedule" } as const;
const GATE_TAINT = { key: "prepull.dev/not-ready", effect: "NoSchedule" };
const OTHER_TAINT = { key: "gpu", value: "true", effect: "NoSchedule" };

function workload(namespace: string, name: string, annotations: Record<string, string>): JsonObject {
  return { metadata: { namespace, name, annotations } };
}

interface Call {
  method: string;
  path: string;
  query?: Query;
  body?: unknown;
}

/** Answers the calls removeLeftovers makes; records every one. */
function fakeApi(options: { goneBeforePatch?: string; nodePatchConflicts?: number } = {}) {
  const calls: Call[] = [];
  let conflicts = options.nodePatchConflicts ?? 0;
  const lists: Record<string, JsonObject[][]> = {
    "/apis/apps/v1/deployments": [
      [
        workload("team-a", "both", {
          prepull: "true",
          "prepull.dev/status": "3/3 nodes ready",
          "prepull.dev/images": "sha256:0123456789abcdef",
        }),
        workload("team-a", "plain", { owner: "team-a" }),
      ],
      [workload("team-b", "status-only", { "prepull.dev/status": "0/3 nodes ready" })],
    ],
    "/apis/apps/v1/statefulsets": [[]],
    "/apis/batch/v1/jobs": [
      [workload("team-c", "gone", { "prepull.dev/images": "sha256:fedcba9876543210" })],
    ],
    "/apis/batch/v1/cronjobs": [[]],
    "/api/v1/nodes": [
      [
        { metadata: { name: "gated" }, spec: { taints: [OTHER_TAINT, GATE_TAINT] } },
        { metadata: { name: "free" }, spec: { taints: [OTHER_TAINT] } },
        { metadata: { name: "bare" }, spec: {} },
      ],
    ],
  };
  const reject = (status: number, reason: string) =>
    Promise.reject(new KubeApiError("X", "/", status, reason, reason));
  const rest: KubeRest = {
    async request(method, path, options: RequestOptions = {}) {
      calls.push({
        method,
        path,
        ...(options.query ? { query: options.query } : {}),
        ...(options.body ? { body: options.body } : {}),
      });
      if (method === "DELETE" && path.endsWith("/daemonsets")) return { items: [{}, {}] };
      if (method === "DELETE" && path.endsWith("/secrets")) return { items: [{}] };
      if (method === "PATCH" && path.startsWith("/api/v1/nodes/")) {
        if (conflicts > 0) {
          conflicts--;
          return reject(422, "Invalid");
        }
        return {};
      }
      return reject(500, "unexpected");
    },
    async get(path, query) {
      calls.push({ method: "GET", path, ...(query ? { query } : {}) });
      const pages = lists[path];
      if (pages === undefined) return reject(404, "NotFound");
      const index = query?.continue === undefined ? 0 : Number(query.continue);
      const next = index + 1 < pages.length ? String(index + 1) : "";
      return { items: pages[index] ?? [], metadata: { continue: next } };
    },
    async getOptional(path) {
      calls.push({ method: "GET", path });
      return { metadata: { name: "gated" }, spec: { taints: [GATE_TAINT] } };
    },
    async mergePatch(path, patch) {
      calls.push({ method: "PATCH", path, body: patch });
      if (options.goneBeforePatch !== undefined && path.endsWith(`/${options.goneBeforePatch}`))
        return reject(404, "NotFound");
      return {};
    },
    apply: () => reject(500, "unexpected"),
    create: () => reject(500, "unexpected"),
    replace: () => reject(500, "unexpected"),
    delete: () => reject(500, "unexpected"),
  };
  return { rest, calls };
}

const NO_ANNOTATIONS = {
  metadata: { annotations: { "prepull.dev/status": null, "prepull.dev/images": null } },
};

describe("removeLeftovers", () => {
  it("deletes by prepull's labels, clears both annotations wherever one is, frees gated nodes", async () => {
    const { rest, calls } = fakeApi({ goneBeforePatch: "gone" });
    const report = await removeLeftovers(rest, {
      namespace: "prepull-system",
      ownedSelector: SELECTOR,
      gate: GATE,
    });
    expect(report).toEqual({ daemonSets: 2, secrets: 1, workloads: 2, nodes: 1 });
    const writes = calls.filter((c) => c.method !== "GET");
    expect(writes).toEqual([
      {
        method: "DELETE",
        path: "/apis/apps/v1/namespaces/prepull-system/daemonsets",
        query: { labelSelector: SELECTOR },
      },
      {
        method: "DELETE",
        path: "/api/v1/namespaces/prepull-system/secrets",
        query: { labelSelector: SELECTOR },
      },
      { method: "PATCH", path: "/apis/apps/v1/namespaces/team-a/deployments/both", body: NO_ANNOTATIONS },
      {
        method: "PATCH",
        path: "/apis/apps/v1/namespaces/team-b/deployments/status-only",
        body: NO_ANNOTATIONS,
      },
      // Deleted between the list and the patch: nothing left to clear, not a failure.
      { method: "PATCH", path: "/apis/batch/v1/namespaces/team-c/jobs/gone", body: NO_ANNOTATIONS },
      {
        method: "PATCH",
        path: "/api/v1/nodes/gated",
        body: [
          { op: "test", path: "/spec/taints/1", value: GATE_TAINT },
          { op: "remove", path: "/spec/taints/1" },
        ],
      },
    ]);
    // The second page of Deployments was asked for with the first page's continue token.
    expect(calls).toContainEqual({
      method: "GET",
      path: "/apis/apps/v1/deployments",
      query: { limit: "500", continue: "1" },
    });
  });

  it("leaves nodes alone without the gate", async () => {
    const { rest, calls } = fakeApi();
    const report = await removeLeftovers(rest, { namespace: "ns", ownedSelector: SELECTOR, gate: undefined });
    expect(report.nodes).toBe(0);
    expect(calls.some((c) => c.path.startsWith("/api/v1/nodes"))).toBe(false);
  });

  it("re-reads a node whose taints changed and patches it again", async () => {
    const { rest, calls } = fakeApi({ nodePatchConflicts: 1 });
    const report = await removeLeftovers(rest, { namespace: "ns", ownedSelector: SELECTOR, gate: GATE });
    expect(report.nodes).toBe(1);
    const nodeCalls = calls.filter((c) => c.path === "/api/v1/nodes/gated");
    expect(nodeCalls.map((c) => c.method)).toEqual(["PATCH", "GET", "PATCH"]);
    // After the re-read the taint is at index 0.
    expect(nodeCalls[2]?.body).toEqual([
      { op: "test", path: "/spec/taints/0", value: GATE_TAINT },
      { op: "remove", path: "/spec/taints/0" },
    ]);
  });

  it("fails, naming the node, when its taints keep changing", async () => {
    const { rest } = fakeApi({ nodePatchConflicts: 10 });
    await expect(
      removeLeftovers(rest, { namespace: "ns", ownedSelector: SELECTOR, gate: GATE }),
    ).rejects.toThrow(
      "node gated: its taints kept changing; the gating taint prepull.dev/not-ready is still on it",
    );
  });
});
