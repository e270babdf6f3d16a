// What the reconciler needs to be told. main.ts builds it from the validated Config with
// reconcilerSettingsFrom; tests build it directly. Nothing is read from the environment here:
// DEFAULT_TIMINGS is only a constant.
import type { Config } from "../config.ts";
import type { PrepullSettings } from "../core/desired-state.ts";
import { gateToleration } from "../core/node-gate.ts";
import type { TolerationPolicy } from "../core/placement-bounds.ts";
import type { LeaseTimings } from "../kube/leader.ts";

/**
 * The elector's timings and identity (kube/leader.ts), and the Lease's name in the release
 * namespace. requestTimeoutSeconds bounds every API request here, Lease or not: at most
 * leaseDuration − renewDeadline, so a write the leader started before its deadline has ended (or
 * been cut) before any other replica may hold the lease.
 */
export interface LeaderElectionTimings extends LeaseTimings {
  leaseName: string;
}

export interface ReconcilerSettings {
  /** DaemonSet shape; `prepull.namespace` is the release namespace. */
  prepull: PrepullSettings;
  /** Image references as metric label values (else a short hash of each). */
  metricsImageNames: boolean;
  /** Which taints the pre-pull DaemonSets may tolerate when a workload does. */
  tolerationPolicy: TolerationPolicy;
  /** Namespaces whose workloads are ignored, besides kube-system and the release namespace. */
  excludedNamespaces: readonly string[];
  /** Opt in every workload of every namespace not excluded, unless it says `prepull: "false"`. */
  clusterDefault: boolean;
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

/**
 * The reconciler's fixed timings: no setting configures them. (Resync and the lease's duration and
 * renewal are settings: their defaults live in config.ts only.)
 */
export const DEFAULT_TIMINGS = {
  debounceMs: 200,
  maxDelayMs: 1000,
  statusMinIntervalSeconds: 5,
  leaseName: "prepull-reconciler",
  /** The longest retry period; shorter when the leader renews more often. */
  retryPeriodSeconds: 2,
  /** The longest request timeout; shorter when the lease leaves less room (see requestTimeoutSeconds). */
  requestTimeoutSeconds: 5,
} as const;

/** Where this process runs, for its leader-election identity. */
export interface ProcessIdentity {
  hostname: string;
  pid: number;
}

/**
 * The reconciler's settings from the validated configuration. Pure: the hostname and pid come in.
 * The renew deadline lies midway between the renew period and the lease duration (10 s for the
 * defaults 5 s and 15 s), so the leader stops writing before anyone else may take over. Requests
 * time out within the remaining room (5 s for the defaults).
 */
export function reconcilerSettingsFrom(config: Config, self: ProcessIdentity): ReconcilerSettings {
  const duration = config.leaseDurationSeconds;
  const renew = config.leaseRenewSeconds;
  return {
    prepull: {
      namespace: config.podNamespace,
      sleeperImage: config.sleeperImage,
      sleeperPath: config.sleeperPath,
      ...(config.sleeperPullSecrets.length > 0 ? { sleeperPullSecrets: [...config.sleeperPullSecrets] } : {}),
      ...(config.priorityClassName === undefined ? {} : { priorityClassName: config.priorityClassName }),
      maxUnavailable: config.maxUnavailable,
      maxImagesPerDaemonSet: config.maxImagesPerDaemonSet,
      mirrorPullSecrets: config.mirrorPullSecrets,
      resources: { cpu: config.containerCpu, memory: config.containerMemory },
      // The pre-pull pods must run on a gated node: that is how its images get there.
      ...(config.nodeGate
        ? {
            extraTolerations: [
              gateToleration({ taintKey: config.nodeGateTaint, taintEffect: config.nodeGateTaintEffect }),
            ],
          }
        : {}),
      podRequests: { cpu: config.podCpu, memory: config.podMemory },
    },
    metricsImageNames: config.metricsImageNames,
    tolerationPolicy: {
      tolerated: [...config.toleratedTaints],
      neverTolerated: [...config.neverToleratedTaints],
    },
    excludedNamespaces: [...config.excludedNamespaces],
    clusterDefault: config.clusterDefault,
    resyncSeconds: config.resyncSeconds,
    debounceMs: DEFAULT_TIMINGS.debounceMs,
    maxDelayMs: DEFAULT_TIMINGS.maxDelayMs,
    statusMinIntervalSeconds: DEFAULT_TIMINGS.statusMinIntervalSeconds,
    leaderElection: {
      leaseName: DEFAULT_TIMINGS.leaseName,
      identity: `${config.podName ?? self.hostname}_${self.pid}`,
      leaseDurationSeconds: duration,
      renewPeriodSeconds: renew,
      renewDeadlineSeconds: (renew + duration) / 2,
      retryPeriodSeconds: Math.min(DEFAULT_TIMINGS.retryPeriodSeconds, renew),
      requestTimeoutSeconds: Math.min(DEFAULT_TIMINGS.requestTimeoutSeconds, (duration - renew) / 2),
    },
  };
}
