// Samples each replica's process metrics (prom-client's defaults) during the soak and reports the
// trend as a least-squares slope per minute, after a warm-up the slope ignores (caches fill, JIT).
import { sumOf } from "../../test/e2e/support/metrics.ts";

const SAMPLED = {
  rssBytes: "process_resident_memory_bytes",
  heapUsedBytes: "nodejs_heap_size_used_bytes",
  activeHandles: "nodejs_active_handles_total",
  eventLoopLagP99Seconds: "nodejs_eventloop_lag_p99_seconds",
} as const;
export type SampledName = keyof typeof SAMPLED;

export interface Sample {
  minutes: number;
  values: Record<SampledName, number>;
}

export function sampleOf(minutes: number, exposition: string): Sample {
  const values = Object.fromEntries(
    (Object.entries(SAMPLED) as [SampledName, string][]).map(([key, metric]) => [
      key,
      sumOf(exposition, metric),
    ]),
  ) as Record<SampledName, number>;
  return { minutes, values };
}

/** Least-squares slope of y over x; 0 with fewer than two points. */
function slope(points: readonly { x: number; y: number }[]): number {
  if (points.length < 2) return 0;
  const meanX = points.reduce((s, p) => s + p.x, 0) / points.length;
  const meanY = points.reduce((s, p) => s + p.y, 0) / points.length;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - meanX) * (p.y - meanY);
    den += (p.x - meanX) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

export interface Trend {
  first: number;
  last: number;
  max: number;
  perMinute: number;
}

/** The trend of each sampled value after `warmupMinutes`. */
export function trends(samples: readonly Sample[], warmupMinutes: number): Record<SampledName, Trend> {
  const kept = samples.filter((s) => s.minutes >= warmupMinutes);
  const out = {} as Record<SampledName, Trend>;
  for (const key of Object.keys(SAMPLED) as SampledName[]) {
    const ys = kept.map((s) => s.values[key]);
    out[key] = {
      first: ys[0] ?? Number.NaN,
      last: ys.at(-1) ?? Number.NaN,
      max: Math.max(...ys),
      perMinute: slope(kept.map((s) => ({ x: s.minutes, y: s.values[key] }))),
    };
  }
  return out;
}
