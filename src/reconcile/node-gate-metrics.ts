// The node gate's Prometheus metrics, on the Registry passed in.
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

type GateOutcome = "ready" | "deadline";

export interface NodeGateMetrics {
  releases: Counter<"outcome">;
  gatedSeconds: Histogram;
  leader: Gauge;
}

/** `countGated` is read at every scrape, from the node watch cache, on every replica. */
export function createNodeGateMetrics(registry: Registry, countGated: () => number): NodeGateMetrics {
  const registers = [registry];
  new Gauge({
    name: "prepull_node_gate_nodes_gated",
    help: "Nodes that carry the gating taint now (they take no workload pods yet)",
    registers,
    collect() {
      this.set(countGated());
    },
  });
  const releases = new Counter({
    name: "prepull_node_gate_releases_total",
    help: "Gating taints removed, by outcome: ready (every image present, or nothing to pull) or deadline",
    labelNames: ["outcome"],
    registers,
  });
  for (const outcome of ["ready", "deadline"] satisfies GateOutcome[]) releases.inc({ outcome }, 0);
  return {
    releases,
    gatedSeconds: new Histogram({
      name: "prepull_node_gate_gated_seconds",
      help: "Time from a node's creation to the removal of its gating taint",
      buckets: [1, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600],
      registers,
    }),
    leader: new Gauge({
      name: "prepull_node_gate_leader",
      help: "1 while this replica holds the node gate's lease and removes taints, else 0",
      registers,
    }),
  };
}
