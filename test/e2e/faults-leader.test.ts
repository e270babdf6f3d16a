// Three reconciler replicas under continuous churn; the leader is SIGKILLed three times in a row
// (a fresh replica joins after each kill, so three stay). From the apiserver's audit log: never two
// writers at once (every write by a replica arrives while that replica holds the Lease), and the
// successors really wrote. Ends with the exact state and the time to converge.
import { afterAll, beforeAll, expect, test } from "vitest";
import type { Replica } from "../../bench/reconcile-harness.ts";
import { waitFor } from "../../bench/reconcile-harness.ts";
import { holderChanges, writesBy } from "../../scripts/faults/audit.ts";
import { recordResult } from "../../scripts/faults/results.ts";
import {
  churnFor,
  expectConverged,
  expectNoCrash,
  expectOneWriterAtATime,
  type ReplicaSet,
  scopeOf,
  startChurn,
  startReplicas,
} from "./support/faults.ts";
import { createNamespace, deleteNamespace, withNamespace } from "./support/namespace.ts";

const KILLS = 3;
let set: ReplicaSet;

beforeAll(async () => {
  const releaseNamespace = await createNamespace("prepull-killfaults");
  set = await startReplicas(
    releaseNamespace,
    ["a", "b", "c"].map((x) => `${releaseNamespace}-${x}`),
  );
});

afterAll(async () => {
  await set?.stopAll();
  if (set) await deleteNamespace(set.releaseNamespace);
});

test(`the leader SIGKILLed ${KILLS} times during churn: one writer at a time, final state exact`, async () => {
  const namespace = await withNamespace("killfault");
  const started = Date.now();
  const churn = startChurn(namespace, { seed: 3 });
  await churnFor(churn, 20);

  const killed = new Set<Replica>();
  const takeovers: number[] = [];
  for (let round = 1; round <= KILLS; round++) {
    const leader = await waitFor("a leader", () => set.leader(), 60_000, 50);
    // Let the leader write under churn before it dies.
    await churnFor(churn, 10);
    const killedAt = performance.now();
    await leader.kill();
    killed.add(leader);
    const successor = await waitFor(
      "a successor",
      async () => {
        const next = await set.leader();
        return next !== undefined && next !== leader ? next : undefined;
      },
      60_000,
      50,
    );
    takeovers.push(Math.round(performance.now() - killedAt));
    expect(successor).not.toBe(leader);
    await set.add(`${set.releaseNamespace}-r${round}`);
  }
  await churnFor(churn, 20);
  const report = await churn.stop();
  const converged = await expectConverged(scopeOf(namespace, set.releaseNamespace));

  expectNoCrash(set, killed);
  const events = await expectOneWriterAtATime(set, started);
  // The Lease changed hands at least once per kill, and the killed leaders and their successors
  // all wrote: the check above judged real writes from several replicas.
  const holders = holderChanges(events, set.lease).map((c) => c.holder);
  expect(new Set(holders).size).toBeGreaterThanOrEqual(KILLS + 1);
  const writes = writesBy(
    events,
    set.lease,
    set.replicas.map((r) => r.identity),
  );
  const writers = Object.entries(writes).filter(([, n]) => n > 0);
  expect(writers.length).toBeGreaterThanOrEqual(KILLS);

  await recordResult({
    fault: "leader-sigkill-x3",
    convergeMs: converged.ms,
    lost: [],
    detail: {
      takeoversMs: takeovers.join(","),
      writesByReplica: JSON.stringify(writes),
      churnOps: Object.values(report.done).reduce((a, b) => a + b, 0),
    },
  });
});
