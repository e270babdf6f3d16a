// Why a workload is pre-pulled, at three levels, most specific first (the pattern of Istio's
// sidecar injection): the workload's own `prepull` annotation ("true" in, "false" out) wins; else
// its namespace's label `prepull.dev/enabled=true` opts it in; else the cluster-wide default, when
// on, opts in every namespace not excluded. An excluded namespace (kube-system, the release
// namespace, the configured list) is never in, whatever the workload says. Pure.
import { annotationsOf, type JsonObject, OPT_IN_ANNOTATION } from "./workload.ts";

/** The namespace label that opts in every supported workload in the namespace. */
export const NAMESPACE_OPT_IN_LABEL = "prepull.dev/enabled";
const NAMESPACE_OPT_IN_VALUE = "true";
/** A workload's `prepull: "false"` opts it out of its namespace's or the cluster's opt-in. */
const OPT_OUT_VALUE = "false";

export type OptInReason = "annotation" | "namespace" | "cluster default";

export interface OptInInput {
  /** The workload's own annotations. */
  annotations: Readonly<Record<string, string>>;
  namespace: string;
  /** The namespace's labels; undefined while the namespace is unknown. */
  namespaceLabels: Readonly<Record<string, string>> | undefined;
  excluded: ReadonlySet<string>;
  clusterDefault: boolean;
}

/** Why the workload is in, or undefined when it is out. */
export function optInReason(input: OptInInput): OptInReason | undefined {
  if (input.excluded.has(input.namespace)) return undefined;
  const own = input.annotations[OPT_IN_ANNOTATION];
  if (own === "true") return "annotation";
  if (own === OPT_OUT_VALUE) return undefined;
  if (input.namespaceLabels?.[NAMESPACE_OPT_IN_LABEL] === NAMESPACE_OPT_IN_VALUE) return "namespace";
  if (input.clusterDefault) return "cluster default";
  return undefined;
}

/** Convenience for a decoded object. */
export function optInReasonOf(
  object: JsonObject,
  rest: Omit<OptInInput, "annotations">,
): OptInReason | undefined {
  return optInReason({ ...rest, annotations: annotationsOf(object) });
}

/** What `prepull.dev/status` appends so an owner sees why the workload is in ("" for its own annotation). */
export function reasonSuffix(reason: OptInReason): string {
  return reason === "annotation" ? "" : ` (via ${reason})`;
}
