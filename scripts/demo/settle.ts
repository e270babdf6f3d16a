// When the demo's table has settled: the workloads run and carry prepull's annotations, prepull
// has reconciled since they were applied, every pre-pull DaemonSet is observed at its current spec
// and has its images on all its eligible nodes, and each opted-in workload's prepull.dev/status
// reports all of those nodes ready. (A re-run that changes a workload's placement must not settle
// on the previous run's DaemonSets.) If no DaemonSet appears a while after the workloads settled,
// waiting longer will not help: that is a failure, reported with what to look at. Pure.
import type { Snapshot } from "./snapshot.ts";

const NO_DAEMONSETS_GRACE_SECONDS = 30;

export interface Assessment {
  settled: boolean;
  /** What is still missing, for the status line and for a timeout message. */
  waitingFor: string[];
  /** Set when waiting longer is pointless: what went wrong. */
  failed?: string;
}

export function workloadsSettled(snapshot: Snapshot): string[] {
  const waiting: string[] = [];
  for (const w of snapshot.workloads) {
    if (w.replicas === 0 || w.readyReplicas < w.replicas)
      waiting.push(`${w.name} pods (${w.readyReplicas}/${w.replicas})`);
    if (w.optedIn && w.prepullAnnotations.images === undefined)
      waiting.push(`prepull's annotation on ${w.name}`);
  }
  return waiting;
}

/** The N of "N/N nodes ready" (or "2 images: N/N nodes ready"), with nothing failing. */
function allReadyNodes(status: string | undefined): number | undefined {
  // A workload in by its namespace or the cluster default ends with " (via namespace)" and the like.
  const match = /^(?:\d+ images: )?(\d+)\/(\d+) nodes ready(?: \(via [a-z ]+\))?$/.exec(status ?? "");
  return match !== null && match[1] === match[2] ? Number(match[2]) : undefined;
}

export interface Progress {
  /** Seconds since the workloads last settled; undefined while they are not. */
  secondsSinceWorkloadsSettled: number | undefined;
  /** Successful reconcile runs before the workloads were applied. */
  reconcileRunsBefore: number;
}

export function assess(snapshot: Snapshot, progress: Progress): Assessment {
  const { secondsSinceWorkloadsSettled } = progress;
  const waitingFor = workloadsSettled(snapshot);
  if ((snapshot.reconcileRuns ?? 0) <= progress.reconcileRunsBefore)
    waitingFor.push("a reconcile since the workloads were applied");
  if (snapshot.daemonSets === 0) {
    waitingFor.push("pre-pull DaemonSets");
    const graceOver =
      secondsSinceWorkloadsSettled !== undefined &&
      secondsSinceWorkloadsSettled >= NO_DAEMONSETS_GRACE_SECONDS;
    return {
      settled: false,
      waitingFor,
      ...(graceOver
        ? {
            failed: `no pre-pull DaemonSet appeared ${NO_DAEMONSETS_GRACE_SECONDS}s after the workloads were admitted`,
          }
        : {}),
    };
  }
  if (!snapshot.daemonSetsObserved) waitingFor.push("the DaemonSet controller");
  for (const row of snapshot.images) {
    const pods = Object.values(row.pools).reduce((sum, count) => sum + count.eligible, 0);
    if (row.eligible === 0 || row.ready < row.eligible || pods !== row.eligible)
      waitingFor.push(`${row.image} (${row.ready}/${row.eligible})`);
  }
  for (const w of snapshot.workloads) {
    if (!w.optedIn) continue;
    const eligible = snapshot.images.find((row) => row.image === w.image)?.eligible;
    if (eligible === undefined || allReadyNodes(w.prepullAnnotations.status) !== eligible)
      waitingFor.push(`prepull.dev/status of ${w.name} (${w.prepullAnnotations.status ?? "none yet"})`);
  }
  return { settled: waitingFor.length === 0, waitingFor };
}
