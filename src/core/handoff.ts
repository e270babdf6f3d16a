// The hand-off from admission to the reconciler: what admission says (which workload changed) and
// the one call it makes. Admission only ever calls `enqueue`, which must return at once: no I/O,
// no await. The reconciler drains it on its own schedule.
import type { WorkloadKey } from "./workload.ts";

type AdmissionOperation = "CREATE" | "UPDATE";

export interface ReconcileRequest extends WorkloadKey {
  operation: AdmissionOperation;
}

export interface ReconcileHandoff {
  enqueue(request: ReconcileRequest): void;
  /** Requests accepted but not yet handled, for the queue-depth gauge. */
  depth(): number;
}
