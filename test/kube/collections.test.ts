// Whole-collection reads and deletes against a small fake of the REST client: the pages a LIST
// walks, what it keeps, and the deletecollection a label selector sends.
import { describe, expect, it } from "vitest";
import type { JsonObject } from "../../src/core/workload.ts";
import { deleteLabelled, listPages } from "../../src/kube/collections.ts";
import type { KubeRest, Query } from "../../src/kube/rest.ts";

function pagedRest(pages: JsonObject[], gets: Query[] = [], deletes: Query[] = []): KubeRest {
  const unused = () => Promise.reject(new Error("not used by collections"));
  return {
    request: async (method, _path, options) => {
      if (method !== "DELETE") throw new Error(`unexpected ${method}`);
      deletes.push(options?.query ?? {});
      return { items: [{}, {}, {}] };
    },
    get: async (_path, query = {}) => {
      gets.push(query);
      const page = pages[gets.length - 1];
      if (page === undefined) throw new Error("asked past the last page");
      return page;
    },
    getOptional: unused,
    apply: unused,
    mergePatch: unused,
    create: unused,
    replace: unused,
    delete: unused,
  };
}

describe("listPages", () => {
  it("follows continue tokens to the last page, keeping the query and the last resourceVersion", async () => {
    const gets: Query[] = [];
    const rest = pagedRest(
      [
        { metadata: { continue: "t1", resourceVersion: "10" }, items: [{ n: 1 }, "not an object", { n: 2 }] },
        { metadata: { continue: "t2", resourceVersion: "10" }, items: [{ n: 3 }] },
        { metadata: { continue: "", resourceVersion: "11" }, items: [] },
      ],
      gets,
    );
    const listed = await listPages(rest, "/apis/apps/v1/deployments", { labelSelector: "a=b" }, 2);
    expect(listed).toEqual({ items: [{ n: 1 }, { n: 2 }, { n: 3 }], resourceVersion: "11" });
    expect(gets).toEqual([
      { labelSelector: "a=b", limit: "2", continue: undefined },
      { labelSelector: "a=b", limit: "2", continue: "t1" },
      { labelSelector: "a=b", limit: "2", continue: "t2" },
    ]);
  });

  it("asks for 500 objects a page by default and stops on a page without a token", async () => {
    const gets: Query[] = [];
    const listed = await listPages(pagedRest([{ items: [{ n: 1 }] }], gets), "/api/v1/nodes");
    expect(listed).toEqual({ items: [{ n: 1 }], resourceVersion: "" });
    expect(gets).toEqual([{ limit: "500", continue: undefined }]);
  });
});

describe("deleteLabelled", () => {
  it("sends one deletecollection with the selector and counts what it deleted", async () => {
    const deletes: Query[] = [];
    const rest = pagedRest([], [], deletes);
    await expect(deleteLabelled(rest, "/api/v1/namespaces/p/secrets", "app=prepull")).resolves.toBe(3);
    expect(deletes).toEqual([{ labelSelector: "app=prepull" }]);
  });
});
