// Notes on a workload's status: what prepull narrowed or refused on its behalf (a toleration
// dropped by the namespace's whitelist or the administrator's policy, pods the apiserver would
// reject, a pull secret it would not mirror). They go after the presence summary in the
// `prepull.dev/status` annotation, and each new one into an Event (see StatusWriter).
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
