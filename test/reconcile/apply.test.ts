// The pure parts of the owned-object applier: the spec hash and the subset comparison.
import { describe, expect, it } from "vitest";
import { isSubset, SPEC_HASH_ANNOTATION, withSpecHash } from "../../src/kube/apply.ts";

describe("withSpecHash", () => {
  const manifest = {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: { name: "prepull-a", namespace: "prepull", annotations: { "prepull.dev/image-count": "1" } },
    spec: { template: { spec: { containers: [{ name: "c", image: "x" }] } } },
  };

  it("adds the annotation and keeps the others", () => {
    const { manifest: hashed, hash } = withSpecHash(manifest);
    expect(hashed.metadata).toEqual({
      name: "prepull-a",
      namespace: "prepull",
      annotations: { "prepull.dev/image-count": "1", [SPEC_HASH_ANNOTATION]: hash },
    });
    expect(hash).toMatch(/^[0-9a-f]{32}$/);
  });

  it("pins the hash of a given manifest", () => {
    // A literal: the hash is stored on every owned object (prepull.dev/spec-hash) and decides
    // whether the next release rewrites it, so for the same manifest it must never change.
    expect(withSpecHash(manifest).hash).toBe("6aa709a44f8633e828bab73d0a266ad6");
  });

  it("does not depend on key order or on a hash already present", () => {
    const reordered = {
      spec: manifest.spec,
      metadata: manifest.metadata,
      kind: "DaemonSet",
      apiVersion: "apps/v1",
    };
    const { manifest: once, hash } = withSpecHash(manifest);
    expect(withSpecHash(reordered).hash).toBe(hash);
    expect(withSpecHash(once).hash).toBe(hash);
  });

  it("changes with the spec", () => {
    const changed = {
      ...manifest,
      spec: { template: { spec: { containers: [{ name: "c", image: "y" }] } } },
    };
    expect(withSpecHash(changed).hash).not.toBe(withSpecHash(manifest).hash);
  });
});

describe("isSubset", () => {
  const cases: { name: string; desired: unknown; live: unknown; expected: boolean }[] = [
    { name: "server defaults added", desired: { a: 1 }, live: { a: 1, b: 2 }, expected: true },
    { name: "value changed", desired: { a: 1 }, live: { a: 2 }, expected: false },
    { name: "field removed", desired: { a: 1, b: 2 }, live: { a: 1 }, expected: false },
    {
      name: "list elements with defaults",
      desired: [{ name: "c" }],
      live: [{ name: "c", terminationMessagePath: "/dev/termination-log" }],
      expected: true,
    },
    {
      name: "list element added",
      desired: [{ name: "c" }],
      live: [{ name: "c" }, { name: "d" }],
      expected: false,
    },
    { name: "list order", desired: ["a", "b"], live: ["b", "a"], expected: false },
    { name: "object vs scalar", desired: { a: {} }, live: { a: "x" }, expected: false },
  ];
  for (const c of cases) {
    it(c.name, () => expect(isSubset(c.desired, c.live)).toBe(c.expected));
  }
});
