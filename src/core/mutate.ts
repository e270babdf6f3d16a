// The admission decision, from the request alone: is this an opted-in workload, which images does
// it run, and what small patch records them. No API calls, no clock: the reconciler does the
// rest from its own watch, so this only has to say which workload to look at.
import { isDeepStrictEqual } from "node:util";
import type { AdmissionRequest } from "./admission.ts";
import type { ReconcileRequest } from "./handoff.ts";
import { collectImages, imageSetDigest } from "./images.ts";
import { annotationPatch, type JsonPatchOperation } from "./patch.ts";
import {
  isJsonObject,
  isOptedIn,
  isOptedOut,
  type JsonObject,
  OWN_ANNOTATION_PREFIX,
  podSpecOf,
  type WorkloadKind,
  workloadKindOf,
} from "./workload.ts";

type MutationOutcome = "patched" | "unchanged" | "ignored";

export interface MutationResult {
  outcome: MutationOutcome;
  patch: JsonPatchOperation[];
  warnings: string[];
  /** set for an opted-in workload CREATE/UPDATE: what admission hands to the reconcile queue (unless dry run — the caller decides that) */
  reconcile?: ReconcileRequest;
  /** for logs/metrics: workload kind or the request's kind */
  kind: string;
}

/** Records which image set admission last saw, so a change of images is visible on the object. */
export const TRACKED_IMAGES_ANNOTATION = "prepull.dev/images";

export interface MutateOptions {
  /**
   * The apiserver sent this through the namespace webhook entry, whose namespaceSelector already
   * chose the namespace (its opt-in label, or the cluster default): every workload there is in
   * unless its own `prepull: "false"` opts it out.
   */
  namespaceSelected?: boolean;
}

/** Decide one admission request. Never throws, whatever shape the request has. */
export function mutate(request: AdmissionRequest, options: MutateOptions = {}): MutationResult {
  const gvk = isJsonObject(request) ? request.kind : undefined;
  const kindName = isJsonObject(gvk) && typeof gvk.kind === "string" ? gvk.kind : "";
  const kind = isJsonObject(gvk) ? workloadKindOf(gvk) : undefined;
  const ignored: MutationResult = { outcome: "ignored", patch: [], warnings: [], kind: kind ?? kindName };

  if (kind === undefined) return ignored;
  const operation = request.operation;
  if (operation !== "CREATE" && operation !== "UPDATE") return ignored;
  // A subresource (status, scale) is not the workload's template; the main resource's own
  // admission is where images change.
  if (typeof request.subResource === "string" && request.subResource !== "") return ignored;
  const object = request.object;
  if (!isJsonObject(object)) return ignored;
  const optedIn = options.namespaceSelected === true ? !isOptedOut(object) : isOptedIn(object);
  if (!optedIn) return ignored;

  const { references, warnings } = imagesOf(kind, object);
  const patch = annotationPatch(object, { [TRACKED_IMAGES_ANNOTATION]: imageSetDigest(references) });
  // prepull's own status write comes back through this webhook as an UPDATE: it changes nothing
  // the reconciler reads, so it must not kick a reconcile (which would write status again).
  const ownWriteOnly = operation === "UPDATE" && differsOnlyInOwnAnnotations(request.oldObject, object);
  return {
    outcome: patch.length > 0 ? "patched" : "unchanged",
    patch,
    warnings,
    ...(ownWriteOnly ? {} : { reconcile: { kind, operation, ...workloadIdentity(request, object) } }),
    kind,
  };
}

/**
 * Whether an UPDATE's old and new object are the same but for prepull's own annotations and the
 * bookkeeping the apiserver changes on every write (managedFields, resourceVersion). Anything
 * else, a label or a replica count included, still counts as a change: this only filters what
 * prepull itself wrote.
 */
function differsOnlyInOwnAnnotations(oldObject: unknown, object: JsonObject): boolean {
  if (!isJsonObject(oldObject)) return false;
  return isDeepStrictEqual(withoutOwnWrites(oldObject), withoutOwnWrites(object));
}

function withoutOwnWrites(object: JsonObject): JsonObject {
  const metadata = isJsonObject(object.metadata) ? { ...object.metadata } : {};
  delete metadata.managedFields;
  delete metadata.resourceVersion;
  if (isJsonObject(metadata.annotations)) {
    metadata.annotations = Object.fromEntries(
      Object.entries(metadata.annotations).filter(([key]) => !key.startsWith(OWN_ANNOTATION_PREFIX)),
    );
  }
  return { ...object, metadata };
}

function imagesOf(kind: WorkloadKind, object: JsonObject): { references: string[]; warnings: string[] } {
  const podSpec = podSpecOf(kind, object);
  if (podSpec === undefined) {
    return {
      references: [],
      warnings: [`prepull: this ${kind} has no pod template spec, nothing to pre-pull`],
    };
  }
  const { images, warnings } = collectImages(podSpec);
  return { references: images.map((image) => image.reference), warnings };
}

/** A CREATE with generateName has no name yet; the reconciler finds the object through its watch. */
function workloadIdentity(
  request: AdmissionRequest,
  object: JsonObject,
): { namespace: string; name: string } {
  const metadata = isJsonObject(object.metadata) ? object.metadata : {};
  return {
    name: firstNonEmpty(request.name, metadata.name),
    namespace: firstNonEmpty(request.namespace, metadata.namespace),
  };
}

function firstNonEmpty(...values: unknown[]): string {
  for (const value of values) {
    if (typeof value === "string" && value !== "") return value;
  }
  return "";
}
