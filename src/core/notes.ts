// Notes on a workload's status: what prepull narrowed or refused on its behalf (a toleration
// dropped by the namespace's whitelist or the administrator's policy, pods the apiserver would
// reject, a pull secret it would not mirror). They go after the presence summary in the
// `prepull.dev/status` annotation, and each new one into an Event (see StatusWriter).
import { type OptInReason, reasonSuffix } from "./opt-in.ts";
import { SUMMARY_LENGTH_MAX, type WorkloadStatus } from "./status.ts";

export function withNotes(status: WorkloadStatus, notes: readonly string[] | undefined): WorkloadStatus {
  if (notes === undefined || notes.length === 0) return status;
  const text = [status.summary, ...notes].join("; ");
  return {
    ...status,
    notes: [...notes],
    summary: text.length <= SUMMARY_LENGTH_MAX ? text : `${text.slice(0, SUMMARY_LENGTH_MAX - 1)}…`,
  };
}

/**
 * Why the workload is in, after everything else ("1/1 nodes ready (via namespace)"), so a reader
 * of "N/N nodes ready" at the start keeps working; nothing when its own annotation put it in.
 */
export function withReason(status: WorkloadStatus, reason: OptInReason | undefined): WorkloadStatus {
  const suffix = reason === undefined ? "" : reasonSuffix(reason);
  if (suffix === "") return status;
  const room = SUMMARY_LENGTH_MAX - suffix.length;
  const head = status.summary.length <= room ? status.summary : `${status.summary.slice(0, room - 1)}…`;
  return { ...status, summary: `${head}${suffix}` };
}
