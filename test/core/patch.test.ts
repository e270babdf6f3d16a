import jsonpatch from "fast-json-patch";
import { describe, expect, it } from "vitest";
import { annotationPatch, escapeJsonPointer, type JsonPatchOperation } from "../../src/core/patch.ts";
import type { JsonObject } from "../../src/core/workload.ts";

function apply(object: JsonObject, ops: JsonPatchOperation[]): unknown {
  // fast-json-patch's Operation type is a union per op; ours is the wire shape, so go through JSON.
  const operations = JSON.parse(JSON.stringify(ops));
  return jsonpatch.applyPatch(structuredClone(object), operations, true).newDocument;
}

const spec = { replicas: 2, template: { spec: { containers: [{ name: "a", image: "nginx:1" }] } } };

describe("escapeJsonPointer", () => {
  it.each([
    ["plain", "plain"],
    ["prepull.dev/images", "prepull.dev~1images"],
    ["a~b", "a~0b"],
    ["~/", "~0~1"],
    ["/~1", "~1~01"],
    ["", ""],
  ])("%j -> %j", (segment, escaped) => {
    expect(escapeJsonPointer(segment)).toBe(escaped);
  });
});

describe("annotationPatch", () => {
  it.each<[string, JsonObject, Record<string, string>, JsonObject, number]>([
    [
      "no annotations map",
      { metadata: { name: "w" }, spec },
      { "prepull.dev/images": "d1" },
      { metadata: { name: "w", annotations: { "prepull.dev/images": "d1" } }, spec },
      1,
    ],
    [
      "no metadata at all",
      { spec },
      { "prepull.dev/images": "d1" },
      { metadata: { annotations: { "prepull.dev/images": "d1" } }, spec },
      1,
    ],
    [
      "metadata null",
      { metadata: null, spec },
      { k: "v" },
      { metadata: { annotations: { k: "v" } }, spec },
      1,
    ],
    [
      "annotations null",
      { metadata: { name: "w", annotations: null }, spec },
      { k: "v" },
      { metadata: { name: "w", annotations: { k: "v" } }, spec },
      1,
    ],
    [
      "other annotations untouched",
      { metadata: { annotations: { prepull: "true", team: "vision" } }, spec },
      { "prepull.dev/images": "d1" },
      { metadata: { annotations: { prepull: "true", team: "vision", "prepull.dev/images": "d1" } }, spec },
      1,
    ],
    [
      "stale value replaced",
      { metadata: { annotations: { prepull: "true", "prepull.dev/images": "old" } }, spec },
      { "prepull.dev/images": "new" },
      { metadata: { annotations: { prepull: "true", "prepull.dev/images": "new" } }, spec },
      1,
    ],
    [
      "key needing escaping",
      { metadata: { annotations: { other: "x" } } },
      { "ex~ample.com/a~b/c": "v" },
      { metadata: { annotations: { other: "x", "ex~ample.com/a~b/c": "v" } } },
      1,
    ],
    [
      "several keys, only the differing ones",
      { metadata: { annotations: { a: "1", b: "old" } } },
      { a: "1", b: "2", c: "3" },
      { metadata: { annotations: { a: "1", b: "2", c: "3" } } },
      2,
    ],
  ])("%s", (_label, object, wanted, expected, operationCount) => {
    const ops = annotationPatch(object, wanted);
    expect(ops).toHaveLength(operationCount);
    for (const op of ops) expect(op.path.startsWith("/metadata")).toBe(true);
    expect(apply(object, ops)).toEqual(expected);
  });

  it("uses replace for an existing key, add for a new one, with escaped paths", () => {
    const object = { metadata: { annotations: { "a/b": "old" } } };
    expect(annotationPatch(object, { "a/b": "new", "c~d": "x" })).toEqual([
      { op: "replace", path: "/metadata/annotations/a~1b", value: "new" },
      { op: "add", path: "/metadata/annotations/c~0d", value: "x" },
    ]);
  });

  it("is [] when every wanted key already has its value", () => {
    const object = { metadata: { annotations: { "prepull.dev/images": "d1", other: "y" } } };
    expect(annotationPatch(object, { "prepull.dev/images": "d1" })).toEqual([]);
  });

  it("is [] when nothing is wanted, even without metadata", () => {
    expect(annotationPatch({}, {})).toEqual([]);
  });

  it("does not treat an inherited property as present", () => {
    const ops = annotationPatch({ metadata: { annotations: {} } }, { toString: "x" });
    expect(ops).toEqual([{ op: "add", path: "/metadata/annotations/toString", value: "x" }]);
  });

  it("does not share the wanted map with the returned operation", () => {
    const wanted = { k: "v" };
    const ops = annotationPatch({}, wanted);
    wanted.k = "changed";
    expect(ops[0]?.value).toEqual({ annotations: { k: "v" } });
  });
});
