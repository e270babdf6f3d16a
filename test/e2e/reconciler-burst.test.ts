// Two reconciler replicas (separate processes) against the real control plane: a burst of 100
// annotated Deployments ends in exactly their images with a handful of DaemonSet writes, all by
// the leader; and with the leader SIGKILLed mid-burst, the other replica takes over once the lease
// expires and the final state is still exact.
import { CoordinationV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, expect, test } from "vitest";
import {
  allImages,
  type Replica,
  replicaSettings,
  spawnReplica,
  waitFor,
} from "../../bench/reconcile-harness.ts";
import { isApiStatus } from "../../scripts/cluster/kube-client.ts";
import { adminClients, kubeconfigPath } from "./support/cluster.ts";
import { sumOf } from "./support/metrics.ts";
import { createNamespace, deleteNamespace, withNamespace } from "./support/namespace.ts";
import { deployment } from "./support/workloads.ts";

const BURST = 100;
const LEASE_SECONDS = 6;
const RETRY_SECONDS = 1;

let releaseNamespace: string;
const replicas: Replica[] = [];

async function spawn(identity: string): Promise<Replica> {
  const settings = replicaSettings(releaseNamespace, identity, {
    leaderElection: { leaseDurationSeconds: LEASE_SECONDS, retryPeriodSeconds: RETRY_SECONDS },
  });
  const replica = await spawnReplica(kubeconfigPath(), settings);
  replicas.push(replica);
  return replica;
}

async function leaderOf(candidates: readonly Replica[]): Promise<Replica | undefined> {
  for (const replica of candidates) if ((await replica.state()).leader) return replica;
  return undefined;
}

/** DaemonSet writes (create, update, delete) a replica made, from its own counter. */
async function writes(replica: Replica): Promise<number> {
  const metrics = await replica.metrics();
  return ["create", "update", "delete"].reduce(
    (sum, op) => sum + sumOf(metrics, "prepull_daemonset_writes_total", { op }),
    0,
  );
}

beforeAll(async () => {
  releaseNamespace = await createNamespace("prepull-burst");
  const [a, b] = await Promise.all([spawn("replica-a"), spawn("replica-b")]);
  await waitFor("both replicas listed and one leading", async () => {
    const states = await Promise.all([a, b].map((r) => r.state()));
    return states.every((s) => s.ready) && states.filter((s) => s.leader).length === 1 ? true : undefined;
  });
});

const burstNamespaces: string[] = [];

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.stop()));
  if (releaseNamespace) await deleteNamespace(releaseNamespace);
  // Every reconciler in the plane tracks every annotated workload: wait until these 200 are gone,
  // so the test files after this one do not carry them in their DaemonSets.
  await waitFor(
    "the burst namespaces to be deleted",
    async () => {
      const left = await Promise.all(
        burstNamespaces.map((name) =>
          adminClients()
            .core.readNamespace({ name })
            .then(
              () => name,
              (error: unknown) => {
                if (isApiStatus(error, 404)) return undefined;
                throw error;
              },
            ),
        ),
      );
      return left.every((name) => name === undefined) ? true : undefined;
    },
    120_000,
    500,
  );
});

const imageOf = (namespace: string, i: number) => `registry.example.com/e2e/${namespace}/app-${i}:1`;

/** Creates the Deployments 10 at a time; `onCreated` sees the running count. */
async function burst(namespace: string, onCreated: (count: number) => Promise<void> = async () => {}) {
  let created = 0;
  const next = { i: 0 };
  const worker = async () => {
    for (let i = next.i++; i < BURST; i = next.i++) {
      await adminClients().apps.createNamespacedDeployment({
        namespace,
        body: deployment({ name: `app-${i}`, optedIn: true, image: imageOf(namespace, i), replicas: 0 }),
      });
      created++;
      await onCreated(created);
    }
  };
  await Promise.all(Array.from({ length: 10 }, worker));
}

async function expectExactly(namespace: string): Promise<void> {
  const want = Array.from({ length: BURST }, (_, i) => imageOf(namespace, i)).sort();
  const prefix = `registry.example.com/e2e/${namespace}/`;
  let last: string[] = [];
  await waitFor(
    `the ${BURST} images of ${namespace}`,
    async () => {
      last = (await allImages(adminClients().apps, releaseNamespace)).filter((i) => i.startsWith(prefix));
      return JSON.stringify(last) === JSON.stringify(want) ? true : undefined;
    },
    120_000,
  ).catch((error: Error) => {
    throw new Error(`${error.message}; have ${last.length}`);
  });
}

test(`a burst of ${BURST} annotated Deployments: exact image set, a handful of writes, all by the leader`, async () => {
  const namespace = await withNamespace("burst");
  burstNamespaces.push(namespace);
  const leader = await leaderOf(replicas);
  const follower = replicas.find((r) => r !== leader);
  if (leader === undefined || follower === undefined) throw new Error("expected one leader and one follower");
  const before = { leader: await writes(leader), follower: await writes(follower) };

  const started = performance.now();
  await burst(namespace);
  const createdMs = performance.now() - started;
  await expectExactly(namespace);
  const settledMs = performance.now() - started;

  const leaderWrites = (await writes(leader)) - before.leader;
  const followerWrites = (await writes(follower)) - before.follower;
  console.log(
    `burst of ${BURST}: created in ${Math.round(createdMs)} ms, images exact after ${Math.round(settledMs)} ms, ` +
      `${leaderWrites} DaemonSet writes by the leader, ${followerWrites} by the follower`,
  );
  expect(followerWrites).toBe(0);
  expect(leaderWrites).toBeGreaterThan(0);
  // Coalesced into a handful of writes, not one per workload (1 on a quiet machine, up to 6 seen
  // with both cores saturated; the exact count is reported above).
  expect(leaderWrites).toBeLessThanOrEqual(10);
});

test("the leader SIGKILLed mid-burst: the other replica takes over when the lease expires; final state exact", async () => {
  const namespace = await withNamespace("failover");
  burstNamespaces.push(namespace);
  const leader = await leaderOf(replicas);
  const survivor = replicas.find((r) => r !== leader);
  if (leader === undefined || survivor === undefined) throw new Error("expected one leader and one follower");

  let killedAt = 0;
  let killing: Promise<void> | undefined;
  await burst(namespace, async (count) => {
    if (count === 30 && killing === undefined) {
      killedAt = performance.now();
      killing = leader.kill();
    }
  });
  await killing;
  // The dead leader's last renewal, as the apiserver stored it: nobody may lead before it expires.
  const leases = adminClients().kubeConfig.makeApiClient(CoordinationV1Api);
  const before = await leases.readNamespacedLease({
    namespace: releaseNamespace,
    name: "prepull-reconciler",
  });
  expect(before.spec?.holderIdentity).toBe(leader.identity);
  const lastRenewal = new Date(before.spec?.renewTime ?? 0).getTime();
  const takeoverMs = await waitFor(
    `${survivor.identity} to lead`,
    async () => ((await survivor.state()).leader ? performance.now() - killedAt : undefined),
    60_000,
    50,
  );
  await expectExactly(namespace);
  console.log(
    `failover: ${survivor.identity} leads ${Math.round(takeoverMs)} ms after the leader was killed ` +
      `(lease ${LEASE_SECONDS} s); final image set exact`,
  );
  // Judged by the Lease's own timestamps, not a wall-clock bound: the survivor holds it, and took
  // it only once the dead leader's lease had run out (never two leaders). How long that took is
  // logged above, for benchmarks.
  const after = await leases.readNamespacedLease({ namespace: releaseNamespace, name: "prepull-reconciler" });
  expect(after.spec?.holderIdentity).toBe(survivor.identity);
  expect(new Date(after.spec?.acquireTime ?? 0).getTime()).toBeGreaterThanOrEqual(
    lastRenewal + LEASE_SECONDS * 1000,
  );
});
