// The AdmissionReviews every server in the bench answers: an opted-in Deployment padded to a target
// size (compact JSON, as the apiserver sends it), for CREATE and for UPDATE (object and oldObject,
// the new one changing an image). Deterministic: the same bytes on every run.
import type { JsonObject } from "../src/core/workload.ts";
import { admissionReview, deployment } from "../test/support/reviews.ts";

export type Operation = "CREATE" | "UPDATE";

export interface BenchReview {
  id: string;
  operation: Operation;
  targetBytes: number;
  body: string;
}

type Container = { env: JsonObject[]; image: string };

function containersOf(object: JsonObject): Container[] {
  const spec = (object.spec as JsonObject).template as JsonObject;
  return (spec.spec as JsonObject).containers as Container[];
}

function build(operation: Operation, containers: number, padding: number): string {
  const object = deployment("web", "shop");
  const list = containersOf(object);
  list.splice(containers);
  const app = list[0];
  if (app === undefined) throw new Error("the bench deployment has no container");
  for (let i = 0; i < padding; i++) app.env.push({ name: `SETTING_${i}`, value: `value-${i}` });
  if (operation === "CREATE") return JSON.stringify(admissionReview(object, { uid: "bench-create" }));
  const oldObject = structuredClone(object);
  // The image set admission recorded last time, now stale: the answer is a "replace".
  ((object.metadata as JsonObject).annotations as JsonObject)["prepull.dev/images"] =
    "sha256:0000000000000000";
  ((oldObject.metadata as JsonObject).annotations as JsonObject)["prepull.dev/images"] =
    "sha256:0000000000000000";
  app.image = "registry.example.com/shop/app:2.5.0";
  return JSON.stringify(admissionReview(object, { uid: "bench-update", operation, oldObject }));
}

/** The smallest review of at least `targetBytes`, with as many of the three containers as fit. */
export function benchReview(operation: Operation, targetBytes: number): BenchReview {
  let containers = 3;
  while (containers > 1 && Buffer.byteLength(build(operation, containers, 0)) > targetBytes) containers--;
  let padding = 0;
  let body = build(operation, containers, padding);
  while (Buffer.byteLength(body) < targetBytes) body = build(operation, containers, ++padding);
  const kb = Math.round(targetBytes / 1024);
  return { id: `${operation.toLowerCase()}-${kb}kb`, operation, targetBytes, body };
}

/** The sizes the issue asks for: about 3, 8 and 15 KB. */
export const REVIEW_SIZES = [3 * 1024, 8 * 1024, 15 * 1024] as const;
