import type { ReconcileHandoff, ReconcileRequest } from "../core/handoff.ts";

/** How many hand-offs a RecordingQueue keeps: enough to inspect, bounded for a long-lived server. */
const RECORDING_QUEUE_LIMIT = 1000;

/**
 * A queue that only records what it was given. It stands in for the reconciler where none runs
 * (no cluster configured, or PREPULL_RECONCILER=off) and lets tests observe exactly what admission
 * handed over. It keeps the most recent `limit` requests so an admission-only server that runs
 * for months does not grow without bound.
 */
export class RecordingQueue implements ReconcileHandoff {
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
