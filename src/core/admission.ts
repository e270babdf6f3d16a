// AdmissionReview (admission.k8s.io/v1): decoding what the apiserver sends and building what it
// expects back. The contract: echo request.uid exactly, answer with the request's apiVersion and
// kind, and send patchType if and only if there is a patch, as base64 of a JSON array.
import { Buffer } from "node:buffer";
import type { JsonPatchOperation } from "./patch.ts";
import { type GroupVersionKind, isJsonObject, type JsonObject } from "./workload.ts";

export const ADMISSION_API_VERSION = "admission.k8s.io/v1";
const ADMISSION_REVIEW_KIND = "AdmissionReview";

/**
 * The apiserver keeps at most about 4 KiB of warnings per request; past this many, the rest are
 * summarised in one line instead of being cut off silently.
 */
export const RESPONSE_WARNINGS_MAX = 20;

interface GroupVersionResource {
  group: string;
  version: string;
  resource: string;
}

export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  resource?: GroupVersionResource;
  subResource?: string;
  name?: string;
  namespace?: string;
  operation: string;
  object?: unknown;
  oldObject?: unknown;
  dryRun?: boolean;
  userInfo?: unknown;
}

interface AdmissionResponse {
  uid: string;
  allowed: true;
  patchType?: "JSONPatch";
  patch?: string;
  warnings?: string[];
}

export interface AdmissionReview {
  apiVersion: string;
  kind: "AdmissionReview";
  request?: AdmissionRequest;
  response?: AdmissionResponse;
}

export type DecodedReview =
  | { ok: true; apiVersion: string; request: AdmissionRequest }
  | { ok: false; reason: string };

/** Check an already JSON-parsed body; a rejection reason is meant for a human (a 400 body). */
export function decodeReview(body: unknown): DecodedReview {
  if (!isJsonObject(body)) return reject(`expected an AdmissionReview object, got ${describe(body)}`);
  if (body.apiVersion !== ADMISSION_API_VERSION) {
    return reject(`expected apiVersion ${ADMISSION_API_VERSION}, got ${describe(body.apiVersion)}`);
  }
  if (body.kind !== ADMISSION_REVIEW_KIND) {
    return reject(`expected kind ${ADMISSION_REVIEW_KIND}, got ${describe(body.kind)}`);
  }
  const raw = body.request;
  if (!isJsonObject(raw)) return reject(`expected request to be an object, got ${describe(raw)}`);
  if (typeof raw.uid !== "string" || raw.uid === "") {
    return reject(`expected request.uid to be a non-empty string, got ${describe(raw.uid)}`);
  }
  const kind = groupVersionKindOf(raw.kind);
  if (kind === undefined) {
    return reject(`expected request.kind to be {group, version, kind} strings, got ${describe(raw.kind)}`);
  }
  if (typeof raw.operation !== "string" || raw.operation === "") {
    return reject(`expected request.operation to be a non-empty string, got ${describe(raw.operation)}`);
  }

  const request: AdmissionRequest = { uid: raw.uid, kind, operation: raw.operation };
  for (const field of ["subResource", "name", "namespace"] as const) {
    const value = raw[field];
    if (value === undefined) continue;
    if (typeof value !== "string")
      return reject(`expected request.${field} to be a string, got ${describe(value)}`);
    request[field] = value;
  }
  if (raw.resource !== undefined) {
    const resource = groupVersionResourceOf(raw.resource);
    if (resource === undefined) {
      return reject(
        `expected request.resource to be {group, version, resource} strings, got ${describe(raw.resource)}`,
      );
    }
    request.resource = resource;
  }
  // A dryRun that cannot be read must not be taken for false: that would allow side effects.
  if (raw.dryRun !== undefined) {
    if (typeof raw.dryRun !== "boolean")
      return reject(`expected request.dryRun to be a boolean, got ${describe(raw.dryRun)}`);
    request.dryRun = raw.dryRun;
  }
  if (raw.object !== undefined) request.object = raw.object;
  if (raw.oldObject !== undefined) request.oldObject = raw.oldObject;
  if (raw.userInfo !== undefined) request.userInfo = raw.userInfo;
  return { ok: true, apiVersion: body.apiVersion, request };
}

/**
 * The answer to a request that `mutate` has decided (its MutationResult carries both fields;
 * named structurally so this module does not import mutate.ts, which imports it). prepull never
 * denies.
 */
export function reviewFor(
  request: AdmissionRequest,
  result: { patch: JsonPatchOperation[]; warnings: string[] },
): AdmissionReview {
  return review(request, result.patch, result.warnings);
}

/** The one place a response is assembled, so uid and patchType rules cannot drift apart. */
function review(request: AdmissionRequest, patch: JsonPatchOperation[], warnings: string[]): AdmissionReview {
  const response: AdmissionResponse = { uid: request.uid, allowed: true };
  if (patch.length > 0) {
    response.patchType = "JSONPatch";
    response.patch = Buffer.from(JSON.stringify(patch), "utf8").toString("base64");
  }
  if (warnings.length > 0) response.warnings = capWarnings(warnings);
  return { apiVersion: ADMISSION_API_VERSION, kind: ADMISSION_REVIEW_KIND, response };
}

function capWarnings(warnings: string[]): string[] {
  if (warnings.length <= RESPONSE_WARNINGS_MAX) return [...warnings];
  const kept = warnings.slice(0, RESPONSE_WARNINGS_MAX - 1);
  return [...kept, `prepull: ${warnings.length - kept.length} more warnings not shown`];
}

function groupVersionKindOf(value: unknown): GroupVersionKind | undefined {
  if (!isJsonObject(value)) return undefined;
  const { group, version, kind } = value;
  // The core group is the empty string; version and kind are never empty.
  if (typeof group !== "string" || !isNonEmptyString(version) || !isNonEmptyString(kind)) return undefined;
  return { group, version, kind };
}

function groupVersionResourceOf(value: unknown): GroupVersionResource | undefined {
  if (!isJsonObject(value)) return undefined;
  const { group, version, resource } = value;
  if (typeof group !== "string" || typeof version !== "string" || typeof resource !== "string")
    return undefined;
  return { group, version, resource };
}

function isNonEmptyString(value: unknown): value is string {
  return typeof value === "string" && value !== "";
}

function reject(reason: string): DecodedReview {
  return { ok: false, reason };
}

/** A short, safe rendering of a received value for an error message. */
function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") {
    const shown = value.length > 64 ? `${value.slice(0, 61)}...` : value;
    return JSON.stringify(shown);
  }
  if (isJsonObject(value)) return `an object with keys ${describeKeys(value)}`;
  return `${typeof value} ${String(value)}`;
}

function describeKeys(value: JsonObject): string {
  const keys = Object.keys(value);
  if (keys.length === 0) return "(none)";
  const shown = keys
    .slice(0, 5)
    .map((key) => JSON.stringify(key.length > 32 ? `${key.slice(0, 29)}...` : key));
  return keys.length > 5 ? `${shown.join(", ")}, ...` : shown.join(", ");
}
