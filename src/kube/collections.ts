// Whole collections: a LIST read page by page, and a delete of everything a label selector matches.
import { isJsonObject, type JsonObject } from "../core/workload.ts";
import type { KubeRest, Query } from "./rest.ts";

/** One page of a LIST (client-go's pager default): a page stays a few MiB even for large objects. */
const LIST_PAGE_SIZE = 500;

/**
 * Every object of a collection, page by page (`limit` and `continue`), and the list's
 * resourceVersion. Every page comes from the first page's snapshot; an expired continue token
 * (410 after etcd compaction) fails the whole list, to be started again from the first page.
 */
export async function listPages(
  rest: KubeRest,
  path: string,
  query: Query = {},
  pageSize = LIST_PAGE_SIZE,
): Promise<{ items: JsonObject[]; resourceVersion: string }> {
  const items: JsonObject[] = [];
  let resourceVersion = "";
  let token: string | undefined;
  do {
    const page = await rest.get(path, { ...query, limit: String(pageSize), continue: token });
    for (const item of Array.isArray(page.items) ? page.items : []) if (isJsonObject(item)) items.push(item);
    const metadata = isJsonObject(page.metadata) ? page.metadata : {};
    resourceVersion = typeof metadata.resourceVersion === "string" ? metadata.resourceVersion : "";
    token = typeof metadata.continue === "string" && metadata.continue !== "" ? metadata.continue : undefined;
  } while (token !== undefined);
  return { items, resourceVersion };
}

/** A deletecollection by label selector; how many objects it deleted. */
export async function deleteLabelled(
  rest: KubeRest,
  collection: string,
  labelSelector: string,
): Promise<number> {
  const answer = await rest.request("DELETE", collection, { query: { labelSelector } });
  return Array.isArray(answer.items) ? answer.items.length : 0;
}
