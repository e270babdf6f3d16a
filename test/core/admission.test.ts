import jsonpatch from "fast-json-patch";
import { describe, expect, it } from "vitest";
import {
  ADMISSION_API_VERSION,
  type AdmissionRequest,
  decodeReview,
  RESPONSE_WARNINGS_MAX,
  reviewFor,
} from "../../src/core/admission.ts";
import type { MutationResult } from "../../src/core/mutate.ts";
import type { JsonPatchOperation } from "../../src/core/patch.ts";
import deployment from "./fixtures/deployment.review.json" with { type: "json" };

const request: AdmissionRequest = {
  uid: "705ab4f5-6393-11e8-b7cc-42010a800002",
  kind: { group: "apps", version: "v1", kind: "Deployment" },
  operation: "CREATE",
  name: "web",
  namespace: "default",
  object: { metadata: { name: "web" } },
};

function validBody(overrides: Record<string, unknown> = {}, requestOverrides: Record<string, unknown> = {}) {
  return {
    apiVersion: ADMISSION_API_VERSION,
    kind: "AdmissionReview",
    request: { ...request, ...requestOverrides },
    ...overrides,
  };
}

function withoutRequestField(field: string): Record<string, unknown> {
  const body = validBody();
  const { [field]: _removed, ...rest } = body.request as unknown as Record<string, unknown>;
  return { ...body, request: rest };
}

function decodePatch(patch: string | undefined): JsonPatchOperation[] {
  if (patch === undefined) throw new Error("no patch");
  const decoded: unknown = JSON.parse(Buffer.from(patch, "base64").toString("utf8"));
  if (!Array.isArray(decoded)) throw new Error("patch is not a JSON array");
  return decoded;
}

describe("decodeReview", () => {
  it("accepts a fixture AdmissionReview and keeps what mutate needs", () => {
    const decoded = decodeReview(deployment);
    if (!decoded.ok) throw new Error(decoded.reason);
    expect(decoded.apiVersion).toBe("admission.k8s.io/v1");
    expect(decoded.request).toMatchObject({
      uid: "0df28fbd-5f5f-11e8-9d8b-0a580a8e0001",
      kind: { group: "apps", version: "v1", kind: "Deployment" },
      resource: { group: "apps", version: "v1", resource: "deployments" },
      operation: "CREATE",
      name: "trainer",
      namespace: "ml",
      dryRun: false,
    });
    expect(decoded.request.object).toBe(deployment.request.object);
    expect(decoded.request.oldObject).toBeNull();
  });

  it("accepts the core group as the empty string", () => {
    const decoded = decodeReview(validBody({}, { kind: { group: "", version: "v1", kind: "Pod" } }));
    expect(decoded.ok).toBe(true);
  });

  it.each<[string, unknown, string]>([
    ["null body", null, "expected an AdmissionReview object, got null"],
    ["array body", [], "expected an AdmissionReview object, got an array"],
    ["string body", "hello", 'expected an AdmissionReview object, got "hello"'],
    [
      "v1beta1",
      validBody({ apiVersion: "admission.k8s.io/v1beta1" }),
      'expected apiVersion admission.k8s.io/v1, got "admission.k8s.io/v1beta1"',
    ],
    [
      "no apiVersion",
      validBody({ apiVersion: undefined }),
      "expected apiVersion admission.k8s.io/v1, got nothing",
    ],
    ["wrong kind", validBody({ kind: "Pod" }), 'expected kind AdmissionReview, got "Pod"'],
    ["no request", validBody({ request: undefined }), "expected request to be an object, got nothing"],
    ["request is a number", validBody({ request: 5 }), "expected request to be an object, got number 5"],
    ["no uid", withoutRequestField("uid"), "expected request.uid to be a non-empty string, got nothing"],
    ["empty uid", validBody({}, { uid: "" }), 'expected request.uid to be a non-empty string, got ""'],
    [
      "numeric uid",
      validBody({}, { uid: 12 }),
      "expected request.uid to be a non-empty string, got number 12",
    ],
    [
      "no kind",
      withoutRequestField("kind"),
      "expected request.kind to be {group, version, kind} strings, got nothing",
    ],
    [
      "kind missing version",
      validBody({}, { kind: { group: "apps", kind: "Deployment" } }),
      'expected request.kind to be {group, version, kind} strings, got an object with keys "group", "kind"',
    ],
    [
      "kind as a string",
      validBody({}, { kind: "Deployment" }),
      'expected request.kind to be {group, version, kind} strings, got "Deployment"',
    ],
    [
      "no operation",
      withoutRequestField("operation"),
      "expected request.operation to be a non-empty string, got nothing",
    ],
    [
      "dryRun as a string",
      validBody({}, { dryRun: "false" }),
      'expected request.dryRun to be a boolean, got "false"',
    ],
    ["name not a string", validBody({}, { name: 3 }), "expected request.name to be a string, got number 3"],
    [
      "resource malformed",
      validBody({}, { resource: { group: "apps" } }),
      'expected request.resource to be {group, version, resource} strings, got an object with keys "group"',
    ],
  ])("rejects %s", (_label, body, reason) => {
    expect(decodeReview(body)).toEqual({ ok: false, reason });
  });

  it("keeps a rejection reason short for a huge value", () => {
    const decoded = decodeReview(validBody({ apiVersion: "x".repeat(10_000) }));
    if (decoded.ok) throw new Error("expected a rejection");
    expect(decoded.reason.length).toBeLessThan(150);
  });
});

describe("response builders", () => {
  const patch: JsonPatchOperation[] = [
    { op: "add", path: "/metadata/annotations", value: { "prepull.dev/images": "sha256:0123456789abcdef" } },
  ];

  it("an allowed review without a patch echoes the uid, has no patch and no patchType", () => {
    expect(reviewFor(request, { patch: [], warnings: [] })).toEqual({
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: { uid: request.uid, allowed: true },
    });
  });

  it("a patch goes as a base64 JSON array that applies cleanly", () => {
    const review = reviewFor(request, { patch, warnings: ["w1"] });
    expect(review.response?.patchType).toBe("JSONPatch");
    expect(review.response?.warnings).toEqual(["w1"]);
    const ops = decodePatch(review.response?.patch);
    expect(ops).toEqual(patch);
    const patched = jsonpatch.applyPatch(
      structuredClone({ metadata: { name: "web" } }),
      ops as jsonpatch.Operation[],
      true,
    );
    expect(patched.newDocument).toEqual({
      metadata: { name: "web", annotations: { "prepull.dev/images": "sha256:0123456789abcdef" } },
    });
  });

  it("an empty patch with warnings sends the warnings and no patchType", () => {
    expect(reviewFor(request, { patch: [], warnings: ["w1"] })).toEqual({
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: { uid: request.uid, allowed: true, warnings: ["w1"] },
    });
  });

  it.each<[string, MutationResult, boolean, string[] | undefined]>([
    ["patched", { outcome: "patched", patch, warnings: ["w"], kind: "Deployment" }, true, ["w"]],
    ["unchanged", { outcome: "unchanged", patch: [], warnings: [], kind: "Deployment" }, false, undefined],
    ["ignored", { outcome: "ignored", patch: [], warnings: [], kind: "Pod" }, false, undefined],
  ])(
    "reviewFor %s: patchType iff patch, warnings omitted when empty",
    (_label, result, hasPatch, warnings) => {
      const review = reviewFor(request, result);
      expect(review.apiVersion).toBe("admission.k8s.io/v1");
      expect(review.kind).toBe("AdmissionReview");
      expect(review.request).toBeUndefined();
      const response = review.response;
      expect(response?.uid).toBe(request.uid);
      expect(response?.allowed).toBe(true);
      expect("patchType" in (response ?? {})).toBe(hasPatch);
      expect("patch" in (response ?? {})).toBe(hasPatch);
      expect(response?.warnings).toEqual(warnings);
      expect("warnings" in (response ?? {})).toBe(warnings !== undefined);
    },
  );

  it("echoes each request's own uid", () => {
    const uids = ["a", "b-c", "00000000-0000-0000-0000-000000000000"];
    for (const uid of uids) {
      expect(reviewFor({ ...request, uid }, { patch: [], warnings: [] }).response?.uid).toBe(uid);
    }
  });

  it("summarises warnings beyond the cap in one line", () => {
    const warnings = Array.from({ length: RESPONSE_WARNINGS_MAX + 5 }, (_, i) => `w${i}`);
    const sent = reviewFor(request, { patch: [], warnings }).response?.warnings ?? [];
    expect(sent).toHaveLength(RESPONSE_WARNINGS_MAX);
    expect(sent.slice(0, -1)).toEqual(warnings.slice(0, RESPONSE_WARNINGS_MAX - 1));
    expect(sent.at(-1)).toBe("prepull: 6 more warnings not shown");
  });

  it("sends exactly the cap without a summary", () => {
    const warnings = Array.from({ length: RESPONSE_WARNINGS_MAX }, (_, i) => `w${i}`);
    expect(reviewFor(request, { patch: [], warnings }).response?.warnings).toEqual(warnings);
  });
});
