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

/** How many hand-offs a RecordingQueue keeps: enough to inspect, bounded for a long-lived server. */
export const RECORDING_QUEUE_LIMIT = 1000;

/**
 * A queue that only records what it was given. It stands in for the reconciler where none runs
 * (no cluster configured, or PREPULL_RECONCILER=off) and lets tests observe exactly what admission
 * handed over. It keeps the most recent `limit` requests so an admission-only server that runs
 * for months does not grow without bound.
 */
export class RecordingQueue implements ReconcileQueue {
  readonly received: ReconcileRequest[] = [];
  readonly limit: number;

  constructor(limit = RECORDING_QUEUE_LIMIT) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`limit must be a positive integer: ${limit}`);
    this.limit = limit;
  }

  enqueue(request: ReconcileRequest): void {
    this.received.push({ ...request });
    // shift() is O(1) in V8 (the array's start moves); splice(0, n) copied the whole array on every
    // admission once the limit was reached. A caller may have shortened the array itself, hence while.
    while (this.received.length > this.limit) this.received.shift();
  }

  depth(): number {
    return this.received.length;
  }
}
