// Faults of the API itself, during continuous churn against two reconciler replicas: the
// apiserver stopped for 20 s and started again, and the apiserver stopped while etcd is compacted
// past every revision handed out, so that every watch resumes from a resourceVersion that no
// longer exists and gets 410 Gone. (The apiserver crashing, SIGKILL with an immediate restart, is
// in faults-apiserver-crash.test.ts.) Each ends with the exact state (DaemonSet images and every
// workload's status), no replica crashed, one writer at a time in the audit log, and the time to
// converge.
import { afterAll, beforeAll, expect, test } from "vitest";
import { apiserverOutage, compactEtcd } from "../../scripts/cluster/faults.ts";
import { recordResult } from "../../scripts/faults/results.ts";
import {
  adminRest,
  auditEvents,
  churnFor,
  expectConverged,
  expectNoCrash,
  expectOneWriterAtATime,
  FAULT_LEASE_SECONDS,
  planePaths,
  type ReplicaSet,
  resumeWatch,
  scopeOf,
  startChurn,
  startReplicas,
} from "./support/faults.ts";
import { createNamespace, deleteNamespace, withNamespace } from "./support/namespace.ts";

let set: ReplicaSet;

beforeAll(async () => {
  const releaseNamespace = await createNamespace("prepull-apifaults");
  set = await startReplicas(releaseNamespace, [`${releaseNamespace}-a`, `${releaseNamespace}-b`]);
});

afterAll(async () => {
  await set?.stopAll();
  if (set) await deleteNamespace(set.releaseNamespace);
});

/** LIST requests of the workloads each replica made since `sinceMs`: a watch that lost its place re-lists. */
async function relistsSince(sinceMs: number): Promise<Record<string, number>> {
  const events = await auditEvents(sinceMs);
  const counts: Record<string, number> = {};
  for (const replica of set.replicas) {
    counts[replica.identity] = events.filter(
      (e) => e.user === replica.identity && e.verb === "list" && e.resource === "apps/deployments",
    ).length;
  }
  return counts;
}

test("kube-apiserver stopped for 20 s during churn: watches come back, nothing lost or doubled, no crash", async () => {
  const namespace = await withNamespace("apifault");
  const started = Date.now();
  const churn = startChurn(namespace, { seed: 1 });
  await churnFor(churn, 30);

  const outageStarted = Date.now();
  const outage = await apiserverOutage(planePaths(), { signal: "SIGTERM", downMs: 20_000 });
  // Changes made after the outage must all arrive: only reconnected watches can deliver them.
  await churnFor(churn, 30);
  const report = await churn.stop();
  const converged = await expectConverged(scopeOf(namespace, set.releaseNamespace));

  expectNoCrash(set);
  await expectOneWriterAtATime(set, started);
  const relists = await relistsSince(outageStarted);
  // The driver really met the outage (its requests failed while the apiserver was down).
  const failed = Object.values(report.failed).reduce((a, b) => a + b, 0);
  expect(failed).toBeGreaterThan(0);
  await recordResult({
    fault: "apiserver-stopped-20s",
    convergeMs: converged.ms,
    lost: [],
    detail: {
      portClosedForMs: outage.downMs,
      churnOps: Object.values(report.done).reduce((a, b) => a + b, 0),
      churnOpsFailedDuringOutage: failed,
      relistsAfterOutage: JSON.stringify(relists),
      workloads: converged.state.workloads.length,
    },
  });
});

test("etcd compacted mid-burst and the apiserver restarted: every watch gets 410 Gone, re-lists, converges", async () => {
  const namespace = await withNamespace("compact");
  const started = Date.now();
  const churn = startChurn(namespace, { seed: 2, opsPerSecond: 12 });
  await churnFor(churn, 30);

  const before = await adminRest().get(`/apis/apps/v1/namespaces/${namespace}/deployments`);
  const oldVersion = String((before.metadata as { resourceVersion?: string }).resourceVersion);
  await churnFor(churn, 10);
  const outageStarted = Date.now();
  let revision = 0;
  // Down longer than the Lease (FAULT_LEASE_SECONDS): every leader has stepped down before the
  // apiserver returns. Compacted while it is down, so no write can land between the compaction
  // and the restart and leave a replica's resourceVersion still valid.
  const outage = await apiserverOutage(planePaths(), {
    signal: "SIGTERM",
    downMs: (FAULT_LEASE_SECONDS + 2) * 1000,
    whileDown: async () => {
      revision = await compactEtcd(planePaths());
    },
  });
  // The fault is real: a watch resumed from before the compaction is refused with 410 Gone.
  const resumed = await resumeWatch(`/apis/apps/v1/namespaces/${namespace}/deployments`, oldVersion);
  expect(resumed.status === 410 || resumed.firstEvent?.code === 410).toBe(true);

  await churnFor(churn, 20);
  const report = await churn.stop();
  const converged = await expectConverged(scopeOf(namespace, set.releaseNamespace));

  expectNoCrash(set);
  await expectOneWriterAtATime(set, started);
  // Every replica's watches lost their place and re-listed (from the apiserver's side).
  const relists = await relistsSince(outageStarted);
  expect(Object.values(relists).every((n) => n > 0)).toBe(true);
  await recordResult({
    fault: "etcd-compacted-410",
    convergeMs: converged.ms,
    lost: [],
    detail: {
      compactedTo: revision,
      portClosedForMs: outage.downMs,
      resumedWatch: resumed.firstEvent
        ? `${resumed.firstEvent.type} ${resumed.firstEvent.code}`
        : String(resumed.status),
      relists: JSON.stringify(relists),
      churnOps: Object.values(report.done).reduce((a, b) => a + b, 0),
    },
  });
});
