// When the demo's table has settled: the workloads run and carry prepull's annotation, and every
// pre-pull DaemonSet has its images on all its eligible nodes. While no reconciler runs, no
// DaemonSet ever appears: after a grace period that counts as settled too, and says so. Pure.
import type { Snapshot } from "./snapshot.ts";

export const NO_DAEMONSETS_GRACE_SECONDS = 20;

export interface Assessment {
  settled: boolean;
  /** What is still missing, for the status line and for a timeout message. */
  waitingFor: string[];
  /** True when settled without any pre-pull DaemonSet. */
  withoutDaemonSets: boolean;
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

export function assess(snapshot: Snapshot, secondsSinceWorkloadsSettled: number | undefined): Assessment {
  const waitingFor = workloadsSettled(snapshot);
  if (snapshot.daemonSets > 0) {
    for (const row of snapshot.images) {
      if (row.eligible === 0 || row.ready < row.eligible)
        waitingFor.push(`${row.image} (${row.ready}/${row.eligible})`);
    }
    return { settled: waitingFor.length === 0, waitingFor, withoutDaemonSets: false };
  }
  const graceOver =
    secondsSinceWorkloadsSettled !== undefined && secondsSinceWorkloadsSettled >= NO_DAEMONSETS_GRACE_SECONDS;
  if (!graceOver) waitingFor.push("pre-pull DaemonSets");
  return { settled: waitingFor.length === 0, waitingFor, withoutDaemonSets: true };
}
