import jsonpatch from "fast-json-patch";
import { describe, expect, it } from "vitest";
import { type AdmissionRequest, decodeReview, reviewFor } from "../../src/core/admission.ts";
import { imageSetDigest } from "../../src/core/images.ts";
import { type MutationResult, mutate, TRACKED_IMAGES_ANNOTATION } from "../../src/core/mutate.ts";
import type { JsonPatchOperation } from "../../src/core/patch.ts";
import type { WorkloadKind } from "../../src/core/workload.ts";
import cronjob from "./fixtures/cronjob.review.json" with { type: "json" };
import deployment from "./fixtures/deployment.review.json" with { type: "json" };
import job from "./fixtures/job.review.json" with { type: "json" };
import statefulset from "./fixtures/statefulset.review.json" with { type: "json" };

const SIDECAR = "ghcr.io/example/log-shipper:2.1";
const NODE_EXPORTER = "quay.io/prometheus/node-exporter:v1.8.2";
/** imageSetDigest([]): stored on workloads in clusters, so it must never change between releases. */
const EMPTY_SET_DIGEST = "sha256:4f53cda18c2baa0c";

function requestOf(body: unknown): AdmissionRequest {
  const decoded = decodeReview(structuredClone(body));
  if (!decoded.ok) throw new Error(decoded.reason);
  return decoded.request;
}

function applyPatch(object: unknown, ops: JsonPatchOperation[]): unknown {
  const operations: jsonpatch.Operation[] = JSON.parse(JSON.stringify(ops));
  return jsonpatch.applyPatch(structuredClone(object), operations, true).newDocument;
}

/** Goes through the wire form: what the apiserver would decode and apply. */
function applyReview(request: AdmissionRequest, result: MutationResult): unknown {
  const patch = reviewFor(request, result).response?.patch;
  if (patch === undefined) return request.object;
  return applyPatch(request.object, JSON.parse(Buffer.from(patch, "base64").toString("utf8")));
}

/** The parts of the Deployment fixture the UPDATE table changes. */
interface DeploymentShape {
  metadata: { annotations: Record<string, string>; managedFields?: unknown[]; resourceVersion?: string };
  spec: { replicas?: number; template: { spec: { containers: { image: string }[] } } };
}

function withAnnotation(object: unknown, key: string, value: string): unknown {
  const copy = structuredClone(object) as { metadata: { annotations: Record<string, string> } };
  copy.metadata.annotations[key] = value;
  return copy;
}

describe("mutate: opted-in workloads, per kind", () => {
  // The digests are literals: prepull.dev/images is stored on workloads in clusters, so a digest
  // must never change between releases for the same image set (it would re-patch every workload).
  it.each<[WorkloadKind, unknown, string, string[], string]>([
    [
      "Deployment",
      deployment,
      "trainer",
      ["docker.io/library/busybox:latest", SIDECAR, "nvcr.io/nvidia/pytorch:24.05-py3", NODE_EXPORTER],
      "sha256:9b99c407a0cf058c",
    ],
    [
      "StatefulSet",
      statefulset,
      "vector-db",
      [
        "docker.io/library/busybox:1.36",
        SIDECAR,
        `registry.example.com:5000/db/vector@sha256:${"a".repeat(64)}`,
        NODE_EXPORTER,
      ],
      "sha256:10da2cc9f35a1020",
    ],
    [
      "Job",
      job,
      "preprocess",
      ["docker.io/library/busybox:1.36", SIDECAR, "localhost:5000/data/tool:1.0", NODE_EXPORTER],
      "sha256:65801125219635c4",
    ],
    [
      "CronJob",
      cronjob,
      "nightly-eval",
      ["docker.io/library/busybox:1.36", SIDECAR, "ghcr.io/example/eval:3.2.1", NODE_EXPORTER],
      "sha256:80a43b741b9a9a7a",
    ],
  ])("%s: review in, annotation patch out, spec untouched", (kind, body, name, images, digest) => {
    const request = requestOf(body);
    const result = mutate(request);

    expect(result.outcome).toBe("patched");
    expect(result.kind).toBe(kind);
    expect(result.reconcile).toEqual({ kind, namespace: "ml", name, operation: "CREATE" });
    expect(imageSetDigest(images)).toBe(digest);
    expect(result.patch).toEqual([
      { op: "add", path: "/metadata/annotations/prepull.dev~1images", value: digest },
    ]);

    const expected = withAnnotation(request.object, TRACKED_IMAGES_ANNOTATION, digest);
    expect(applyReview(request, result)).toEqual(expected);
  });

  it.each<[WorkloadKind, unknown]>([
    ["Deployment", deployment],
    ["StatefulSet", statefulset],
    ["Job", job],
    ["CronJob", cronjob],
  ])(
    "%s: admitting the patched object again (a label changed) is unchanged, and still reconciles",
    (kind, body) => {
      const request = requestOf(body);
      const first = mutate(request);
      const patched = applyReview(request, first);
      const before = structuredClone(patched) as { metadata: { labels?: Record<string, string> } };
      before.metadata.labels = { ...before.metadata.labels, team: "before" };

      const again = mutate({ ...request, operation: "UPDATE", object: patched, oldObject: before });
      expect(again.outcome).toBe("unchanged");
      expect(again.patch).toEqual([]);
      expect(again.warnings).toEqual(first.warnings);
      expect(again.reconcile).toEqual({ ...first.reconcile, operation: "UPDATE" });
      const response = reviewFor(request, again).response;
      expect(response?.patch).toBeUndefined();
      expect(response?.patchType).toBeUndefined();
      expect(again.kind).toBe(kind);
    },
  );

  it.each<[string, (object: DeploymentShape) => void, boolean]>([
    // [change from oldObject to object, reconcile kicked?]
    [
      "prepull's status annotation only",
      (o) => (o.metadata.annotations["prepull.dev/status"] = "3/3 nodes ready"),
      false,
    ],
    [
      "status annotation and the field manager's timestamp",
      (o) => {
        o.metadata.annotations["prepull.dev/status"] = "3/3 nodes ready";
        o.metadata.managedFields = [
          { manager: "prepull", operation: "Update", time: "2026-01-01T00:00:00Z" },
        ];
        o.metadata.resourceVersion = "999";
      },
      false,
    ],
    ["nothing at all", () => {}, false],
    ["another annotation", (o) => (o.metadata.annotations["example.com/owner"] = "team-a"), true],
    [
      "an image",
      (o) => o.spec.template.spec.containers.splice(0, 1, { image: "docker.io/library/nginx:1.27" }),
      true,
    ],
    ["replicas", (o) => (o.spec.replicas = 7), true],
  ])("an UPDATE changing %s kicks a reconcile: %s", (_, change, kicks) => {
    const request = requestOf(deployment);
    const patched = applyReview(request, mutate(request)) as DeploymentShape;
    const updated = structuredClone(patched);
    change(updated);
    const result = mutate({ ...request, operation: "UPDATE", object: updated, oldObject: patched });
    expect(result.reconcile !== undefined).toBe(kicks);
  });

  it("passes collection warnings through (untagged busybox in the Deployment)", () => {
    const result = mutate(requestOf(deployment));
    expect(result.warnings).toEqual([
      'prepull: container "migrate": "busybox" is untagged or :latest; pin a tag for a stable cache',
    ]);
  });

  it("replaces a stale tracked digest when the images change", () => {
    const request = requestOf(deployment);
    const stale = withAnnotation(request.object, TRACKED_IMAGES_ANNOTATION, "sha256:0000000000000000");
    const result = mutate({ ...request, operation: "UPDATE", object: stale });
    expect(result.outcome).toBe("patched");
    expect(result.patch).toEqual([
      {
        op: "replace",
        path: "/metadata/annotations/prepull.dev~1images",
        value: expect.stringMatching(/^sha256:/),
      },
    ]);
    expect(result.patch[0]?.value).not.toBe("sha256:0000000000000000");
  });

  it("tracks a workload whose images are all invalid as the empty set, with warnings", () => {
    const object = {
      metadata: { name: "bad", namespace: "ns", annotations: { prepull: "true" } },
      spec: {
        template: {
          spec: {
            containers: [
              { name: "a", image: "UPPER:1" },
              { name: "b", image: "x@md5:1" },
            ],
          },
        },
      },
    };
    const result = mutate({
      uid: "u",
      kind: { group: "apps", version: "v1", kind: "Deployment" },
      operation: "CREATE",
      object,
    });
    expect(result.outcome).toBe("patched");
    expect(result.patch[0]?.value).toBe(EMPTY_SET_DIGEST);
    expect(result.warnings).toHaveLength(2);
    expect(result.reconcile).toEqual({
      kind: "Deployment",
      namespace: "ns",
      name: "bad",
      operation: "CREATE",
    });
  });

  it("warns when the workload has no pod template yet, and still tracks it", () => {
    const object = {
      metadata: { name: "cj", annotations: { prepull: "true" } },
      spec: { schedule: "* * * * *" },
    };
    const result = mutate({
      uid: "u",
      kind: { group: "batch", version: "v1", kind: "CronJob" },
      operation: "CREATE",
      object,
    });
    expect(result.outcome).toBe("patched");
    expect(result.patch[0]?.value).toBe(EMPTY_SET_DIGEST);
    expect(result.warnings).toEqual(["prepull: this CronJob has no pod template spec, nothing to pre-pull"]);
  });
});

describe("mutate: the workload's identity for the reconciler", () => {
  const kind = { group: "apps", version: "v1", kind: "Deployment" };
  const optedIn = (metadata: Record<string, unknown>) => ({
    metadata: { annotations: { prepull: "true" }, ...metadata },
    spec: { template: { spec: { containers: [{ name: "a", image: "nginx:1" }] } } },
  });

  it.each<[string, Partial<AdmissionRequest>, Record<string, unknown>, { name: string; namespace: string }]>([
    [
      "from the request",
      { name: "r", namespace: "rns" },
      { name: "o", namespace: "ons" },
      { name: "r", namespace: "rns" },
    ],
    [
      "from the object when the request has none",
      {},
      { name: "o", namespace: "ons" },
      { name: "o", namespace: "ons" },
    ],
    [
      "empty request fields fall back",
      { name: "", namespace: "" },
      { name: "o", namespace: "ons" },
      { name: "o", namespace: "ons" },
    ],
    [
      "generateName create: no name yet",
      { namespace: "rns" },
      { generateName: "web-" },
      { name: "", namespace: "rns" },
    ],
    ["nothing anywhere", {}, {}, { name: "", namespace: "" }],
  ])("%s", (_label, fields, metadata, identity) => {
    const result = mutate({ uid: "u", kind, operation: "CREATE", object: optedIn(metadata), ...fields });
    expect(result.reconcile).toEqual({ kind: "Deployment", operation: "CREATE", ...identity });
  });

  it("does not look at dryRun: the caller decides whether to enqueue", () => {
    const result = mutate({
      uid: "u",
      kind,
      operation: "CREATE",
      dryRun: true,
      object: optedIn({ name: "d" }),
    });
    expect(result.reconcile).toBeDefined();
  });
});

describe("mutate: everything else is ignored", () => {
  const template = { spec: { containers: [{ name: "a", image: "nginx:1" }] } };
  const deploymentWith = (
    annotations: Record<string, string> | undefined,
    templateAnnotations?: Record<string, string>,
  ) => ({
    metadata: { name: "w", namespace: "n", ...(annotations === undefined ? {} : { annotations }) },
    spec: {
      template: {
        ...template,
        metadata: templateAnnotations === undefined ? {} : { annotations: templateAnnotations },
      },
    },
  });
  const apps = (kind: string, version = "v1") => ({ group: "apps", version, kind });

  it.each<[string, Partial<AdmissionRequest>, string]>([
    ["value True", { object: deploymentWith({ prepull: "True" }) }, "Deployment"],
    ["value false", { object: deploymentWith({ prepull: "false" }) }, "Deployment"],
    ["value with spaces", { object: deploymentWith({ prepull: " true" }) }, "Deployment"],
    ["no annotations", { object: deploymentWith(undefined) }, "Deployment"],
    [
      "annotation only on the pod template",
      { object: deploymentWith({}, { prepull: "true" }) },
      "Deployment",
    ],
    ["prefixed key", { object: deploymentWith({ "prepull.dev/prepull": "true" }) }, "Deployment"],
    ["no object", { object: undefined }, "Deployment"],
    ["object is an array", { object: [] }, "Deployment"],
    ["Pod", { kind: { group: "", version: "v1", kind: "Pod" } }, "Pod"],
    ["DaemonSet", { kind: apps("DaemonSet") }, "DaemonSet"],
    ["apps/v1beta1 Deployment", { kind: apps("Deployment", "v1beta1") }, "Deployment"],
    [
      "extensions Deployment",
      { kind: { group: "extensions", version: "v1beta1", kind: "Deployment" } },
      "Deployment",
    ],
    ["batch/v1beta1 CronJob", { kind: { group: "batch", version: "v1beta1", kind: "CronJob" } }, "CronJob"],
    ["DELETE", { operation: "DELETE" }, "Deployment"],
    ["CONNECT", { operation: "CONNECT" }, "Deployment"],
    ["lowercase create", { operation: "create" }, "Deployment"],
    ["status subresource", { subResource: "status" }, "Deployment"],
    ["scale subresource", { subResource: "scale" }, "Deployment"],
  ])("%s", (_label, fields, kind) => {
    const base: AdmissionRequest = {
      uid: "u",
      kind: apps("Deployment"),
      operation: "CREATE",
      object: deploymentWith({ prepull: "true" }),
    };
    // Sanity: the base request alone is handled, so each row's one change is what ignores it.
    expect(mutate(base).outcome).toBe("patched");
    expect(mutate({ ...base, ...fields })).toEqual({ outcome: "ignored", patch: [], warnings: [], kind });
  });
});

describe("mutate never throws", () => {
  const kind = { group: "apps", version: "v1", kind: "Deployment" };
  const meta = { name: "w", annotations: { prepull: "true" } };

  it.each<[string, unknown]>([
    ["spec null", { metadata: meta, spec: null }],
    ["template a string", { metadata: meta, spec: { template: "x" } }],
    ["pod spec null", { metadata: meta, spec: { template: { spec: null } } }],
    ["containers not an array", { metadata: meta, spec: { template: { spec: { containers: { a: 1 } } } } }],
    ["container null", { metadata: meta, spec: { template: { spec: { containers: [null] } } } }],
    [
      "image not a string",
      { metadata: meta, spec: { template: { spec: { containers: [{ name: 1, image: {} }] } } } },
    ],
    ["annotations an array", { metadata: { annotations: ["prepull"] } }],
    ["metadata a number", { metadata: 4 }],
    ["a string", "Deployment"],
    ["null", null],
  ])("object: %s", (_label, object) => {
    const result = mutate({ uid: "u", kind, operation: "UPDATE", object });
    expect(["patched", "unchanged", "ignored"]).toContain(result.outcome);
    expect(result.patch.every((op) => op.path.startsWith("/metadata"))).toBe(true);
  });

  it.each<[string, unknown]>([
    ["null", null],
    ["kind null", { uid: "u", kind: null, operation: "CREATE" }],
    ["kind a string", { uid: "u", kind: "Deployment", operation: "CREATE" }],
    ["no operation", { uid: "u", kind }],
    ["empty object", {}],
  ])("request: %s", (_label, request) => {
    const result = mutate(request as AdmissionRequest);
    expect(result.outcome).toBe("ignored");
    expect(result.reconcile).toBeUndefined();
  });
});

describe("mutate: sent by the namespace webhook entry (namespaceSelected)", () => {
  const deploymentWith = (annotations?: Record<string, string>) => ({
    metadata: { name: "w", namespace: "ml", ...(annotations === undefined ? {} : { annotations }) },
    spec: { template: { spec: { containers: [{ name: "a", image: "nginx:1" }] } } },
  });
  const request = (annotations?: Record<string, string>): AdmissionRequest => ({
    uid: "u",
    kind: { group: "apps", version: "v1", kind: "Deployment" },
    operation: "CREATE",
    namespace: "ml",
    name: "w",
    object: deploymentWith(annotations),
  });

  it.each<[string, Record<string, string> | undefined, string, string]>([
    ["no annotations: in", undefined, "patched", "ignored"],
    ["other annotations: in", { team: "a" }, "patched", "ignored"],
    ['prepull: "true": in either way', { prepull: "true" }, "patched", "patched"],
    ['prepull: "false": out', { prepull: "false" }, "ignored", "ignored"],
  ])("%s", (_label, annotations, viaNamespace, viaAnnotationEntry) => {
    expect(mutate(request(annotations), { namespaceSelected: true }).outcome).toBe(viaNamespace);
    expect(mutate(request(annotations)).outcome).toBe(viaAnnotationEntry);
  });

  it("hands a namespace-selected workload to the reconciler", () => {
    expect(mutate(request(), { namespaceSelected: true }).reconcile).toEqual({
      kind: "Deployment",
      operation: "CREATE",
      namespace: "ml",
      name: "w",
    });
  });
});
