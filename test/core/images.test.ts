import { describe, expect, it } from "vitest";
import {
  boundedWarning,
  collectImages,
  imageSetDigest,
  parseImageReference,
  WARNING_LENGTH_MAX,
} from "../../src/core/images.ts";
import { isJsonObject, type JsonObject, podSpecOf, type WorkloadKind } from "../../src/core/workload.ts";
import cronjob from "./fixtures/cronjob.review.json" with { type: "json" };
import deployment from "./fixtures/deployment.review.json" with { type: "json" };
import job from "./fixtures/job.review.json" with { type: "json" };
import statefulset from "./fixtures/statefulset.review.json" with { type: "json" };

const SHA256 = `sha256:${"0123456789abcdef".repeat(4)}`;
const SHA512 = `sha512:${"0123456789abcdef".repeat(8)}`;

describe("parseImageReference normalises like containerd", () => {
  it.each([
    ["nginx", "docker.io", "library/nginx", "latest", undefined, "docker.io/library/nginx:latest"],
    ["nginx:1.25", "docker.io", "library/nginx", "1.25", undefined, "docker.io/library/nginx:1.25"],
    ["library/nginx:1.25", "docker.io", "library/nginx", "1.25", undefined, "docker.io/library/nginx:1.25"],
    ["docker.io/nginx", "docker.io", "library/nginx", "latest", undefined, "docker.io/library/nginx:latest"],
    ["index.docker.io/nginx:1", "docker.io", "library/nginx", "1", undefined, "docker.io/library/nginx:1"],
    ["index.docker.io/user/app", "docker.io", "user/app", "latest", undefined, "docker.io/user/app:latest"],
    ["user/app", "docker.io", "user/app", "latest", undefined, "docker.io/user/app:latest"],
    ["user/app:v2", "docker.io", "user/app", "v2", undefined, "docker.io/user/app:v2"],
    ["localhost/x", "localhost", "x", "latest", undefined, "localhost/x:latest"],
    ["localhost:5000/x", "localhost:5000", "x", "latest", undefined, "localhost:5000/x:latest"],
    ["localhost:5000/x:dev", "localhost:5000", "x", "dev", undefined, "localhost:5000/x:dev"],
    [
      "registry.example.com/a/b:1",
      "registry.example.com",
      "a/b",
      "1",
      undefined,
      "registry.example.com/a/b:1",
    ],
    ["Registry.Example.com/a:1", "Registry.Example.com", "a", "1", undefined, "Registry.Example.com/a:1"],
    ["[::1]:5000/app:1", "[::1]:5000", "app", "1", undefined, "[::1]:5000/app:1"],
    [
      "10.0.0.1:5000/a_b/c-d.e__f:1",
      "10.0.0.1:5000",
      "a_b/c-d.e__f",
      "1",
      undefined,
      "10.0.0.1:5000/a_b/c-d.e__f:1",
    ],
    ["ghcr.io/o/r:Tag_1.2-rc", "ghcr.io", "o/r", "Tag_1.2-rc", undefined, "ghcr.io/o/r:Tag_1.2-rc"],
    [`nginx@${SHA256}`, "docker.io", "library/nginx", undefined, SHA256, `docker.io/library/nginx@${SHA256}`],
    [
      `nginx:1.25@${SHA256}`,
      "docker.io",
      "library/nginx",
      "1.25",
      SHA256,
      `docker.io/library/nginx@${SHA256}`,
    ],
    [`quay.io/a/b@${SHA512}`, "quay.io", "a/b", undefined, SHA512, `quay.io/a/b@${SHA512}`],
  ])("%s", (ref, domain, path, tag, digest, canonical) => {
    const parsed = parseImageReference(ref);
    if (!parsed.ok) throw new Error(`expected ${ref} to parse, got: ${parsed.error}`);
    expect(parsed.image).toEqual({
      domain,
      path,
      canonical,
      ...(tag === undefined ? {} : { tag }),
      ...(digest === undefined ? {} : { digest }),
    });
  });

  it.each([
    ["", "empty reference"],
    ["NGINX", "repository name must be lowercase"],
    ["library/Nginx:1", "repository name must be lowercase"],
    ["ghcr.io/Org/app", "repository name must be lowercase"],
    ["nginx:", "invalid tag"],
    ["nginx:-bad", "invalid tag"],
    [`nginx:${"t".repeat(129)}`, "invalid tag"],
    ["nginx@sha256:abc", "invalid sha256 digest"],
    [`nginx@sha256:${"A".repeat(64)}`, "invalid sha256 digest"],
    [`nginx@sha256:${"a".repeat(63)}`, "invalid sha256 digest"],
    [`nginx@md5:${"a".repeat(32)}`, "unsupported digest algorithm"],
    ["nginx@", "invalid digest"],
    ["nginx@:abc", "invalid digest"],
    ["a..b", "invalid repository name"],
    ["-a/b", "invalid repository name"],
    ["a/b/", "invalid repository name"],
    ["a___b", "invalid repository name"],
    [" nginx", "invalid repository name"],
    ["nginx ", "invalid repository name"],
    ["my_host.com/app", "invalid registry host"],
    ["-bad.com/app", "invalid registry host"],
    ["registry.com:port/app", "invalid registry host"],
    [`r.io/${"a".repeat(251)}`, "name longer than 255 characters"],
    ["a".repeat(64), "an image ID, not a reference"],
    ["a".repeat(2000), "reference too long"],
  ])("rejects %j (%s)", (ref, error) => {
    expect(parseImageReference(ref)).toEqual({ ok: false, error });
  });

  it("accepts a name of exactly 255 characters", () => {
    const ref = `r.io/${"a".repeat(250)}`;
    expect(parseImageReference(ref).ok).toBe(true);
  });

  it("is not fooled by a non-string at runtime", () => {
    expect(parseImageReference(42 as unknown as string)).toEqual({ ok: false, error: "empty reference" });
  });
});

type Review = { request: { object: unknown } };

function podSpecFrom(kind: WorkloadKind, review: Review): JsonObject {
  const object = review.request.object;
  if (!isJsonObject(object)) throw new Error("fixture has no object");
  const spec = podSpecOf(kind, object);
  if (spec === undefined) throw new Error(`fixture ${kind} has no pod spec`);
  return spec;
}

const SIDECAR = "ghcr.io/example/log-shipper:2.1";
const NODE_EXPORTER = "quay.io/prometheus/node-exporter:v1.8.2";

describe("collectImages per workload kind", () => {
  it.each<[WorkloadKind, Review, string[]]>([
    [
      "Deployment",
      deployment,
      ["docker.io/library/busybox:latest", SIDECAR, "nvcr.io/nvidia/pytorch:24.05-py3", NODE_EXPORTER],
    ],
    [
      "StatefulSet",
      statefulset,
      [
        "docker.io/library/busybox:1.36",
        SIDECAR,
        `registry.example.com:5000/db/vector@sha256:${"a".repeat(64)}`,
        NODE_EXPORTER,
      ],
    ],
    ["Job", job, ["docker.io/library/busybox:1.36", SIDECAR, "localhost:5000/data/tool:1.0", NODE_EXPORTER]],
    [
      "CronJob",
      cronjob,
      ["docker.io/library/busybox:1.36", SIDECAR, "ghcr.io/example/eval:3.2.1", NODE_EXPORTER],
    ],
  ])(
    "%s: init containers (sidecar included), then containers, no ephemeral containers",
    (kind, review, expected) => {
      const { images } = collectImages(podSpecFrom(kind, review));
      expect(images.map((image) => image.reference)).toEqual(expected);
      expect(images.map((image) => image.container)).toEqual(["migrate", "log-shipper", "main", "metrics"]);
      expect(images.some((image) => image.reference.includes("debug"))).toBe(false);
    },
  );

  it("records the pull policy and whether the image is untagged", () => {
    const { images } = collectImages(podSpecFrom("Deployment", deployment));
    expect(images[0]).toEqual({
      container: "migrate",
      reference: "docker.io/library/busybox:latest",
      untagged: true,
    });
    expect(images[2]).toEqual({
      container: "main",
      reference: "nvcr.io/nvidia/pytorch:24.05-py3",
      pullPolicy: "IfNotPresent",
      untagged: false,
    });
  });

  it("a digest with :latest is pinned, so not untagged", () => {
    const { images, warnings } = collectImages({
      containers: [{ name: "a", image: `app:latest@${SHA256}` }],
    });
    expect(images).toEqual([
      { container: "a", reference: `docker.io/library/app@${SHA256}`, untagged: false },
    ]);
    expect(warnings).toEqual([]);
  });

  it("de-duplicates spellings of one image, first container wins", () => {
    const { images } = collectImages({
      initContainers: [{ name: "init", image: "docker.io/library/nginx:1.25" }],
      containers: [
        { name: "a", image: "nginx:1.25" },
        { name: "b", image: "index.docker.io/library/nginx:1.25" },
        { name: "c", image: "redis:7" },
        { name: "d", image: "nginx:1.25", imagePullPolicy: "Never" },
      ],
    });
    expect(images).toEqual([
      { container: "init", reference: "docker.io/library/nginx:1.25", untagged: false },
      { container: "c", reference: "docker.io/library/redis:7", untagged: false },
    ]);
  });

  it("warns for an untagged image, :latest and imagePullPolicy Always", () => {
    const { images, warnings } = collectImages({
      containers: [
        { name: "bare", image: "nginx" },
        { name: "latest", image: "nginx:latest" },
        { name: "always", image: "redis:7", imagePullPolicy: "Always" },
      ],
    });
    expect(images.map((image) => image.untagged)).toEqual([true, false]);
    expect(warnings).toEqual([
      'prepull: container "bare": "nginx" is untagged or :latest; pin a tag for a stable cache',
      'prepull: container "latest": "nginx:latest" is untagged or :latest; pin a tag for a stable cache',
      'prepull: container "always": imagePullPolicy Always asks the registry on every start; a cache cannot help',
    ]);
  });

  it("skips invalid and missing images with a warning naming the container", () => {
    const { images, warnings } = collectImages({
      containers: [
        { name: "upper", image: "Nginx:1" },
        { name: "none" },
        { name: "number", image: 7 },
        { name: "ok", image: "nginx:1" },
      ],
    });
    expect(images.map((image) => image.container)).toEqual(["ok"]);
    expect(warnings).toEqual([
      'prepull: container "upper": invalid image "Nginx:1" (repository name must be lowercase); skipped',
      'prepull: container "none" has no image, nothing to pre-pull',
      'prepull: container "number" has no image, nothing to pre-pull',
    ]);
  });

  it("keeps every warning under 120 characters, whatever the input, and deterministic", () => {
    const longName = `n${"x".repeat(300)}end`;
    const longRef = `registry.example.com/${"segment/".repeat(40)}image:${"T".repeat(120)}`;
    const spec = {
      containers: [
        { name: longName, image: longRef },
        {
          name: longName,
          image: `registry.example.com/${"a".repeat(60)}/app:latest`,
          imagePullPolicy: "Always",
        },
        { name: longName },
        { name: 'quote"and\nnewline\u00e9', image: "bad\nimage" },
      ],
    };
    const first = collectImages(spec);
    expect(first.warnings).toHaveLength(5);
    for (const warning of first.warnings) {
      expect(warning.length).toBeLessThan(120);
      expect(warning).toMatch(/^[\x20-\x7e]+$/);
      expect(warning).toContain("prepull: container");
    }
    // Both ends of a long name survive the shortening.
    expect(first.warnings[0]).toContain('"nxxxx');
    expect(first.warnings[0]).toContain('end"');
    expect(first.warnings[4]).toContain('"quote?and?newline?"');
    expect(collectImages(spec)).toEqual(first);
  });

  it.each<[string, JsonObject]>([
    ["empty spec", {}],
    ["containers not a list", { containers: "nginx" }],
    ["containers null", { containers: null, initContainers: { a: 1 } }],
    ["entries not objects", { containers: [null, "nginx", 3, ["x"]] }],
  ])("tolerates %s", (_label, spec) => {
    expect(collectImages(spec)).toEqual({ images: [], warnings: [] });
  });

  it("names a container without a name by its position", () => {
    const { images } = collectImages({
      initContainers: [{ image: "a:1" }],
      containers: [{}, { image: "b:1" }],
    });
    expect(images.map((image) => image.container)).toEqual(["initContainers[0]", "containers[1]"]);
  });
});

describe("boundedWarning", () => {
  it("leaves a short warning as it is", () => {
    expect(boundedWarning((n, r) => `c ${n} i ${r}`, "app", "nginx:1")).toBe("c app i nginx:1");
  });

  it("cuts even a template that alone is too long", () => {
    const warning = boundedWarning(() => "w".repeat(300), "n");
    expect(warning).toHaveLength(WARNING_LENGTH_MAX);
    expect(warning.endsWith("...")).toBe(true);
  });
});

describe("imageSetDigest", () => {
  // Literals: the digest is stored on every opted-in workload (prepull.dev/images), so for the same
  // set it must never change between releases. Inputs are given out of order on purpose: the
  // digest hashes the set sorted by code unit (not by locale), so a change of input order, of the
  // sort or of the separator changes these values.
  it.each([
    { references: [], digest: "sha256:4f53cda18c2baa0c" },
    { references: ["docker.io/library/nginx:1"], digest: "sha256:4c185c09278e0eef" },
    {
      references: ["docker.io/library/redis:7", "docker.io/library/nginx:1"],
      digest: "sha256:d7134ce76d94f272",
    },
    {
      references: ["docker.io/library/nginx:2", "docker.io/library/nginx:1", "docker.io/library/nginx:2"],
      digest: "sha256:de38c3161b4cf0d1",
    },
    { references: ["b", "a", "B", "A"], digest: "sha256:48bf087f75386c43" },
    { references: ["b", "a"], digest: "sha256:0473ef2dc0d324ab" },
    { references: ["a\nb"], digest: "sha256:93ef86c5de37fed4" },
  ])("pins $digest for $references", ({ references, digest }) => {
    expect(imageSetDigest(references)).toBe(digest);
  });

  it("ignores order and duplicates", () => {
    const a = imageSetDigest(["docker.io/library/nginx:1", "docker.io/library/redis:7"]);
    const b = imageSetDigest([
      "docker.io/library/redis:7",
      "docker.io/library/nginx:1",
      "docker.io/library/redis:7",
    ]);
    expect(a).toBe(b);
    expect(a).toMatch(/^sha256:[0-9a-f]{16}$/);
  });

  it("changes when the set changes, and the empty set has a digest of its own", () => {
    const digests = new Set([
      imageSetDigest([]),
      imageSetDigest(["docker.io/library/nginx:1"]),
      imageSetDigest(["docker.io/library/nginx:2"]),
      imageSetDigest(["docker.io/library/nginx:1", "docker.io/library/nginx:2"]),
    ]);
    expect(digests.size).toBe(4);
  });

  it("does not confuse a set with one reference that contains the separator", () => {
    expect(imageSetDigest(["a", "b"])).not.toBe(imageSetDigest(["a\nb"]));
  });
});
