// The hand-off from admission to the reconciler. Admission only ever calls `enqueue`, which must
// return at once: no I/O, no await. The reconciler drains it on its own schedule.
import type { WorkloadKey } from "../core/workload.ts";

export type AdmissionOperation = "CREATE" | "UPDATE";

export interface ReconcileRequest extends WorkloadKey {
  operation: AdmissionOperation;
}

export interface ReconcileQueue {
  enqueue(request: ReconcileRequest): void;
  /** Requests accepted but not yet handled, for the queue-depth gauge. */
  depth(): number;
}

/**
 * A queue that only records what it was given. It stands in for the reconciler where none runs
 * (no cluster configured) and lets tests observe exactly what admission handed over.
 */
export class RecordingQueue implements ReconcileQueue {
  readonly received: ReconcileRequest[] = [];

  enqueue(request: ReconcileRequest): void {
    this.received.push({ ...request });
  }

  depth(): number {
    return this.received.length;
  }
}
