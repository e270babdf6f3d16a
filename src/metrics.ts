// Prometheus metrics, always on a Registry passed in (never prom-client's global default), so
// tests and several apps in one process never share counters.
import { Counter, collectDefaultMetrics, Gauge, Histogram, type Registry } from "prom-client";
import type { ReconcileHandoff } from "./core/handoff.ts";
import { WORKLOAD_KINDS } from "./core/workload.ts";

export interface AdmissionMetrics {
  requests: Counter<"kind" | "operation" | "outcome">;
  /** /mutate requests answered with a 4xx before any AdmissionReview could be decided. */
  badRequests: Counter<"status">;
  duration: Histogram;
  warnings: Counter;
}

/**
 * Label values come from fixed sets: anyone who reaches /mutate can send a review with any kind
 * and operation strings, and every distinct label value is a series kept for the process's life.
 */
const KIND_LABELS: ReadonlySet<string> = new Set(Object.keys(WORKLOAD_KINDS));
/** admission.k8s.io/v1 operations. */
const OPERATION_LABELS: ReadonlySet<string> = new Set(["CREATE", "UPDATE", "DELETE", "CONNECT"]);
const OTHER_LABEL = "other";

/** One of the four workload kinds, else `other`. */
export function kindLabel(kind: unknown): string {
  return typeof kind === "string" && KIND_LABELS.has(kind) ? kind : OTHER_LABEL;
}

/** One of the admission operations, else `other`. */
export function operationLabel(operation: unknown): string {
  return typeof operation === "string" && OPERATION_LABELS.has(operation) ? operation : OTHER_LABEL;
}

// Admission is pure computation on a few KB: most answers take tens of microseconds, so the
// buckets start well below a millisecond; the top ones catch event-loop stalls.
const DURATION_BUCKETS = [
  0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.1, 0.5,
];

export function createAdmissionMetrics(registry: Registry, queue: ReconcileHandoff): AdmissionMetrics {
  const registers = [registry];
  new Gauge({
    name: "prepull_reconcile_queue_depth",
    help: "Workloads handed to the reconciler and not yet handled",
    registers,
    collect() {
      this.set(queue.depth());
    },
  });
  return {
    requests: new Counter({
      name: "prepull_admission_requests_total",
      help: "AdmissionReviews answered, by workload kind and operation (other for anything else) and outcome (patched, unchanged, ignored)",
      labelNames: ["kind", "operation", "outcome"],
      registers,
    }),
    badRequests: new Counter({
      name: "prepull_admission_bad_requests_total",
      help: "Requests to /mutate rejected with a 4xx (malformed, wrong type, too large, ...)",
      labelNames: ["status"],
      registers,
    }),
    duration: new Histogram({
      name: "prepull_admission_duration_seconds",
      help: "Time to decide and encode one AdmissionReview, from parsed body to response object",
      buckets: DURATION_BUCKETS,
      registers,
    }),
    warnings: new Counter({
      name: "prepull_admission_warnings_total",
      help: "Admission warnings returned to clients (invalid, :latest or always-pulled images)",
      registers,
    }),
  };
}

/** prom-client's process metrics (CPU, memory, event loop lag, GC, handles) on this registry. */
export function registerProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
}
