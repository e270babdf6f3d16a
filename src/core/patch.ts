// The admission patch, built by hand rather than by diffing two objects: prepull only ever sets
// annotations, so the operations are few and obvious, and a patch that touches nothing else
// cannot fight another webhook over spec.
import { isJsonObject, type JsonObject } from "./workload.ts";

export type JsonPatchOperation = { op: "add" | "replace" | "remove" | "test"; path: string; value?: unknown };

/** RFC 6901: "~" must be escaped before "/", or "/" -> "~1" would then become "~01". */
export function escapeJsonPointer(segment: string): string {
  return segment.replaceAll("~", "~0").replaceAll("/", "~1");
}

/**
 * The fewest operations that make `object.metadata.annotations` contain `wanted`; [] when it
 * already does. Other annotations are never touched.
 */
export function annotationPatch(object: JsonObject, wanted: Record<string, string>): JsonPatchOperation[] {
  const entries = Object.entries(wanted);
  if (entries.length === 0) return [];
  const metadata = isJsonObject(object) ? object.metadata : undefined;
  // "add" on an existing member replaces it (RFC 6902 4.1), which also covers a null or
  // otherwise malformed metadata or annotations value.
  if (!isJsonObject(metadata)) {
    return [{ op: "add", path: "/metadata", value: { annotations: { ...wanted } } }];
  }
  const annotations = metadata.annotations;
  if (!isJsonObject(annotations)) {
    return [{ op: "add", path: "/metadata/annotations", value: { ...wanted } }];
  }
  const operations: JsonPatchOperation[] = [];
  for (const [key, value] of entries) {
    const present = Object.hasOwn(annotations, key);
    if (present && annotations[key] === value) continue;
    operations.push({
      op: present ? "replace" : "add",
      path: `/metadata/annotations/${escapeJsonPointer(key)}`,
      value,
    });
  }
  return operations;
}
