// What the node gate needs to be told, from the validated Config (nothing is read from the
// environment here). It shares the reconciler's release namespace, owned labels and lease
// timings, and runs its own leader election on a Lease of its own: the gate then stays
// independent of how the reconciler elects its writer, and the two may lead on different
// replicas.
import type { Config } from "../config.ts";
import type { GateSettings } from "../core/node-gate.ts";
import type { LeaderElectionTimings, ReconcilerSettings } from "./settings.ts";

export const NODE_GATE_LEASE_NAME = "prepull-node-gate";

export interface NodeGateSettings {
  gate: GateSettings;
  /** The release namespace, where the pre-pull DaemonSets, their pods and the gate's Lease are. */
  namespace: string;
  /** Labels of the objects prepull owns there. */
  ownedLabels: Readonly<Record<string, string>>;
  leaderElection: LeaderElectionTimings;
}

export function gateSettingsFrom(config: Config): GateSettings {
  return {
    taintKey: config.nodeGateTaint,
    taintEffect: config.nodeGateTaintEffect,
    deadlineMs: config.nodeGateDeadlineSeconds * 1000,
  };
}

export function nodeGateSettingsFrom(
  config: Config,
  reconciler: ReconcilerSettings,
  ownedLabels: Readonly<Record<string, string>>,
): NodeGateSettings {
  return {
    gate: gateSettingsFrom(config),
    namespace: reconciler.prepull.namespace,
    ownedLabels,
    leaderElection: { ...reconciler.leaderElection, leaseName: NODE_GATE_LEASE_NAME },
  };
}
