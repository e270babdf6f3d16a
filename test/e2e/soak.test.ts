// The short soak in CI: one minute of the same churn `npm run soak` runs for ten (or more) on
// demand, against two replicas of the real server. It checks what must hold at any length: no
// replica exits, the final state is exact (runSoak waits for it and throws if it never comes),
// and no replica writes while another holds the Lease. Slopes are reported by the long soak, not
// judged here (no timing thresholds in the suite).
import { expect, test } from "vitest";
import { clusterPaths } from "../../scripts/cluster/paths.ts";
import { silentProgress } from "../../scripts/cluster/progress.ts";
import { runSoak } from "../../scripts/soak/run.ts";

// One minute of churn, then up to five for the state to converge (runSoak's bound).
const BOUND_MS = 8 * 60_000;

test("one minute of churn against two replicas: no exit, exact final state, one writer", {
  timeout: BOUND_MS,
}, async () => {
  const result = await runSoak({
    minutes: 1,
    opsPerSecond: 8,
    names: 20,
    sampleSeconds: 10,
    paths: clusterPaths(),
    log: silentProgress(),
  });
  const done = Object.values(result.churn.done).reduce((a, b) => a + b, 0);
  expect(done).toBeGreaterThan(0);
  expect(result.crashed).toEqual([]);
  expect(result.writesWithoutLease).toBe(0);
  // Both replicas were sampled through the whole minute (each sample is a /metrics scrape).
  for (const samples of Object.values(result.samples)) expect(samples.length).toBeGreaterThanOrEqual(6);
  console.info(
    `soak 1 min: ${done} operations, converged ${result.convergeMs} ms after, ${result.workloads} workloads, writes ${JSON.stringify(result.writesByReplica)}`,
  );
});
