// What the reconciler needs to be told. config.ts builds this from the environment; tests build it
// directly. No defaults are read from anywhere here: DEFAULT_TIMINGS is only a constant.
import type { PrepullSettings } from "../core/desired-state.ts";

export interface LeaderElectionTimings {
  /** The Lease's name in the release namespace. */
  leaseName: string;
  /** Unique per process: the pod name (or hostname) and the pid. */
  identity: string;
  leaseDurationSeconds: number;
  renewPeriodSeconds: number;
  renewDeadlineSeconds: number;
  retryPeriodSeconds: number;
}

export interface ReconcilerSettings {
  /** DaemonSet shape; `prepull.namespace` is the release namespace. */
  prepull: PrepullSettings;
  /** Namespaces whose workloads are ignored, besides kube-system and the release namespace. */
  excludedNamespaces: readonly string[];
  /** A full reconcile at least this often, whatever the watches say. */
  resyncSeconds: number;
  /** Quiet period after the latest change before reconciling. */
  debounceMs: number;
  /** Longest wait from a change to the reconcile that handles it. */
  maxDelayMs: number;
  /** Each workload's status annotation is written at most this often. */
  statusMinIntervalSeconds: number;
  leaderElection: LeaderElectionTimings;
}

export const DEFAULT_TIMINGS = {
  resyncSeconds: 300,
  debounceMs: 200,
  maxDelayMs: 1000,
  statusMinIntervalSeconds: 5,
  leaseName: "prepull-reconciler",
  leaseDurationSeconds: 15,
  renewPeriodSeconds: 5,
  renewDeadlineSeconds: 10,
  retryPeriodSeconds: 2,
} as const;
