// Field-by-field mutations of a JSON document for property tests: every path of a real
// AdmissionReview can be deleted or replaced with any JSON value, so the code behind /mutate meets
// each field in every shape a client could send, not only the shapes we thought of.
import fc from "fast-check";

export type JsonPath = readonly (string | number)[];

/** Every path in `value`, the root excluded, parents before children. */
export function jsonPaths(value: unknown, prefix: JsonPath = []): JsonPath[] {
  const paths: JsonPath[] = [];
  if (Array.isArray(value)) {
    value.forEach((item, index) => {
      const path = [...prefix, index];
      paths.push(path, ...jsonPaths(item, path));
    });
  } else if (typeof value === "object" && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      const path = [...prefix, key];
      paths.push(path, ...jsonPaths(item, path));
    }
  }
  return paths;
}

export type Mutation =
  | { path: JsonPath; op: "delete" }
  | { path: JsonPath; op: "replace"; value: unknown }
  /** a key the schema does not have, next to the path's own keys */
  | { path: JsonPath; op: "add-key"; key: string; value: unknown };

/** A copy of `document` with `mutation` applied; a path that no longer exists is left alone. */
export function applyMutation<T>(document: T, mutation: Mutation): T {
  const copy = structuredClone(document);
  const parentPath = mutation.op === "add-key" ? mutation.path : mutation.path.slice(0, -1);
  let parent: unknown = copy;
  for (const key of parentPath) {
    if (typeof parent !== "object" || parent === null) return copy;
    parent = (parent as Record<string | number, unknown>)[key];
  }
  if (typeof parent !== "object" || parent === null) return copy;
  const container = parent as Record<string | number, unknown>;
  if (mutation.op === "add-key") {
    if (!Array.isArray(parent)) container[mutation.key] = mutation.value;
    return copy;
  }
  const key = mutation.path.at(-1);
  if (key === undefined || !Object.hasOwn(container, key)) return copy;
  if (mutation.op === "replace") container[key] = mutation.value;
  else if (Array.isArray(parent)) parent.splice(Number(key), 1);
  else delete container[key];
  return copy;
}

/** Values a client could put anywhere: any JSON, plus the near misses that reach deeper code. */
export const anyJsonValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.string({ unit: "binary", maxLength: 300 }),
  fc.constantFrom("", "true", "CREATE", "UPDATE", "apps", "v1", "Deployment", "CronJob", "latest"),
  fc.constantFrom(null, true, false, 0, -1, 1e308, [], {}),
);

/** One mutation at one of `paths` (or beside it). */
export function mutationAt(paths: readonly JsonPath[]): fc.Arbitrary<Mutation> {
  const path = fc.constantFrom(...paths);
  return fc.oneof(
    path.map((p): Mutation => ({ path: p, op: "delete" })),
    fc
      .record({ path, value: anyJsonValue })
      .map(({ path: p, value }): Mutation => ({ path: p, op: "replace", value })),
    fc
      .record({ path, key: fc.string({ maxLength: 20 }), value: anyJsonValue })
      .map(({ path: p, key, value }): Mutation => ({ path: p, op: "add-key", key, value })),
  );
}
