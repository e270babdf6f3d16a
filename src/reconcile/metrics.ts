// The reconciler's Prometheus metrics, on the Registry passed in.
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { sha256Hex } from "../core/hash.ts";
import type { ImageTotals } from "../core/status.ts";

export interface ReconcilerMetrics {
  daemonSetWrites: Counter<"op">;
  secretWrites: Counter<"op">;
  apiRequests: Counter<"method" | "outcome">;
  runs: Counter<"result">;
  duration: Histogram;
  leader: Gauge;
  trackedWorkloads: Gauge;
  desiredDaemonSets: Gauge;
  statusWrites: Counter;
  events: Counter<"reason">;
  setImageTotals(totals: readonly ImageTotals[]): void;
}

/**
 * The `image` label: the reference itself only when the administrator says image names may be
 * shown to whoever reads /metrics; else 12 hex digits of its sha256, which names no registry or
 * project yet lets an operator match a known image (`echo -n <image> | sha256sum`).
 */
function imageLabel(image: string, imageNames: boolean): string {
  return imageNames ? image : sha256Hex(image).slice(0, 12);
}

export function createReconcilerMetrics(
  registry: Registry,
  options: { imageNames: boolean },
): ReconcilerMetrics {
  const registers = [registry];
  const ready = new Gauge({
    name: "prepull_image_nodes_ready",
    help: "Nodes on which the image is present, from the pre-pull DaemonSet pods' container statuses",
    labelNames: ["image"],
    registers,
  });
  const eligible = new Gauge({
    name: "prepull_image_nodes_eligible",
    help: "Nodes that should hold the image (the DaemonSets' desiredNumberScheduled)",
    labelNames: ["image"],
    registers,
  });
  const failing = new Gauge({
    name: "prepull_image_nodes_failing",
    help: "Nodes on which pulling the image fails (ErrImagePull, ImagePullBackOff, ...)",
    labelNames: ["image"],
    registers,
  });
  return {
    daemonSetWrites: new Counter({
      name: "prepull_daemonset_writes_total",
      help: "Server-side applies and deletes of pre-pull DaemonSets, by outcome (create, update, unchanged, delete)",
      labelNames: ["op"],
      registers,
    }),
    secretWrites: new Counter({
      name: "prepull_secret_writes_total",
      help: "Server-side applies and deletes of mirrored pull Secrets, by outcome",
      labelNames: ["op"],
      registers,
    }),
    apiRequests: new Counter({
      name: "prepull_api_requests_total",
      help: "Kubernetes API requests the reconciler made (watch streams aside), by HTTP method and outcome",
      labelNames: ["method", "outcome"],
      registers,
    }),
    runs: new Counter({
      name: "prepull_reconcile_runs_total",
      help: "Reconcile runs, by result (ok, error, not_synced)",
      labelNames: ["result"],
      registers,
    }),
    duration: new Histogram({
      name: "prepull_reconcile_duration_seconds",
      help: "Time of one reconcile run, writes included",
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    leader: new Gauge({
      name: "prepull_leader",
      help: "1 while this replica holds the reconciler lease and writes, else 0",
      registers,
    }),
    trackedWorkloads: new Gauge({
      name: "prepull_tracked_workloads",
      help: "Annotated workloads the reconciler pre-pulls for",
      registers,
    }),
    desiredDaemonSets: new Gauge({
      name: "prepull_desired_daemonsets",
      help: "Pre-pull DaemonSets in the desired state",
      registers,
    }),
    statusWrites: new Counter({
      name: "prepull_status_writes_total",
      help: "Status annotation patches written onto workloads",
      registers,
    }),
    events: new Counter({
      name: "prepull_events_total",
      help: "Kubernetes Events emitted on workloads, by reason",
      labelNames: ["reason"],
      registers,
    }),
    setImageTotals(totals) {
      // Reset first: an image no longer tracked must disappear, not keep its last value.
      ready.reset();
      eligible.reset();
      failing.reset();
      for (const total of totals) {
        const image = imageLabel(total.image, options.imageNames);
        ready.set({ image }, total.ready);
        eligible.set({ image }, total.eligible);
        failing.set({ image }, total.failing);
      }
    },
  };
}
