// What every fault test needs: a release namespace with N reconciler replicas, each with its own
// audited identity (so the apiserver's audit log says which replica wrote what), a churned
// workload namespace, the exact-state check and the audit checks.

import { open, readFile } from "node:fs/promises";
import { request } from "node:https";
import { join } from "node:path";
import { expect } from "vitest";
import { type Replica, replicaSettings, spawnReplica, waitFor } from "../../../bench/reconcile-harness.ts";
import { auditLogPath } from "../../../scripts/cluster/components.ts";
import { type ClusterPaths, clusterPaths } from "../../../scripts/cluster/paths.ts";
import { readState } from "../../../scripts/cluster/state.ts";
import {
  type AuditEvent,
  type LeaseRef,
  readAuditLog,
  writesWithoutLease,
} from "../../../scripts/faults/audit.ts";
import { Churn, type ChurnOptions, churnImagePrefix } from "../../../scripts/faults/churn.ts";
import { type Converged, type Scope, waitConverged } from "../../../scripts/faults/converge.ts";
import { auditedKubeconfig } from "../../../scripts/faults/identities.ts";
import { createKubeRest, type KubeRest } from "../../../src/kube/rest.ts";
import { adminClients } from "./cluster.ts";

export const FAULT_LEASE_SECONDS = 6;
const LEASE_NAME = "prepull-reconciler";

export function planePaths(): ClusterPaths {
  return clusterPaths();
}

export function adminRest(): KubeRest {
  return createKubeRest(adminClients().kubeConfig);
}

export interface ReplicaSet {
  releaseNamespace: string;
  lease: LeaseRef;
  replicas: Replica[];
  /** Starts one more replica with a fresh audited identity. */
  add(identity: string): Promise<Replica>;
  leader(): Promise<Replica | undefined>;
  stopAll(): Promise<void>;
}

/** `identities` replicas in `releaseNamespace`, waited for until all are listed and one leads. */
export async function startReplicas(
  releaseNamespace: string,
  identities: readonly string[],
): Promise<ReplicaSet> {
  const replicas: Replica[] = [];
  const add = async (identity: string) => {
    const kubeconfig = await auditedKubeconfig(planePaths(), identity);
    const settings = replicaSettings(releaseNamespace, identity, {
      leaderElection: { leaseName: LEASE_NAME, leaseDurationSeconds: FAULT_LEASE_SECONDS },
    });
    const replica = await spawnReplica(kubeconfig, settings);
    replicas.push(replica);
    return replica;
  };
  const leader = async () => {
    for (const replica of replicas) {
      if (replica.hasExited()) continue;
      if ((await replica.state()).leader) return replica;
    }
    return undefined;
  };
  const set: ReplicaSet = {
    releaseNamespace,
    lease: { namespace: releaseNamespace, name: LEASE_NAME },
    replicas,
    add,
    leader,
    stopAll: async () => {
      await Promise.all(replicas.map((r) => r.stop()));
    },
  };
  await Promise.all(identities.map(add));
  await waitFor("every replica listed and one leading", async () => {
    const states = await Promise.all(replicas.map((r) => r.state()));
    return states.every((s) => s.ready) && states.filter((s) => s.leader).length === 1 ? true : undefined;
  });
  return set;
}

export function startChurn(
  namespace: string,
  options: Partial<Omit<ChurnOptions, "namespace" | "kubeConfig">> = {},
): Churn {
  const churn = new Churn({
    kubeConfig: adminClients().kubeConfig,
    namespace,
    names: options.names ?? 24,
    opsPerSecond: options.opsPerSecond ?? 8,
    seed: options.seed ?? 13,
  });
  churn.start();
  return churn;
}

/** Waits until the churn has done `count` more operations than `from`. */
export async function churnFor(churn: Churn, count: number): Promise<void> {
  const done = () => Object.values(churn.report().done).reduce((a, b) => a + b, 0);
  const target = done() + count;
  await waitFor(`${count} churn operations`, async () => (done() >= target ? true : undefined), 120_000, 50);
}

export function scopeOf(namespace: string, releaseNamespace: string): Scope {
  return { namespace, releaseNamespace, imagePrefix: churnImagePrefix(namespace) };
}

export async function expectConverged(scope: Scope, timeoutMs = 150_000): Promise<Converged> {
  const converged = await waitConverged(adminRest(), scope, timeoutMs);
  // A check that cannot fail is no check: the churn must have left something to hold.
  expect(converged.state.workloads.filter((w) => w.annotated).length).toBeGreaterThan(0);
  return converged;
}

export async function auditEvents(sinceMs = 0): Promise<AuditEvent[]> {
  return (await readAuditLog(auditLogPath(planePaths()))).filter((e) => e.receivedMs >= sinceMs);
}

/** From the apiserver's side: no write by any replica while another held the Lease. */
export async function expectOneWriterAtATime(set: ReplicaSet, sinceMs: number): Promise<AuditEvent[]> {
  // The whole log: who holds the Lease at `sinceMs` was decided before it.
  const events = await auditEvents();
  const writers = new Set(set.replicas.map((r) => r.identity));
  const foreign = writesWithoutLease(events, set.lease, writers).filter(
    ({ event }) => event.receivedMs >= sinceMs,
  );
  expect(
    foreign.map(
      ({ event, holder }) =>
        `${event.user} ${event.verb} ${event.resource}/${event.name} while "${holder}" held the lease`,
    ),
  ).toEqual([]);
  return events;
}

export function expectNoCrash(set: ReplicaSet, killed: ReadonlySet<Replica> = new Set()): void {
  const crashed = set.replicas.filter((r) => !killed.has(r) && r.hasExited());
  expect(crashed.map((r) => `${r.identity}:\n${r.output().slice(-2000)}`)).toEqual([]);
}

/** The plane's admin client certificate, for raw requests (a watch read line by line). */
async function adminTls(): Promise<{ ca: Buffer; cert: Buffer; key: Buffer }> {
  const pki = planePaths().pki;
  const [ca, cert, key] = await Promise.all(
    ["ca.crt", "admin.crt", "admin.key"].map((f) => readFile(join(pki, f))),
  );
  return { ca: ca as Buffer, cert: cert as Buffer, key: key as Buffer };
}

/**
 * What a watch resumed from `resourceVersion` gets: the HTTP status, or for a 200 the type and code
 * of its first event (the apiserver reports "too old" as an ERROR event carrying a 410 Status).
 */
export async function resumeWatch(
  path: string,
  resourceVersion: string,
): Promise<{ status: number; firstEvent?: { type: string; code?: number } }> {
  const state = await readState(planePaths());
  if (state === undefined) throw new Error("no plane");
  const tls = await adminTls();
  const url = `https://127.0.0.1:${state.ports.apiserver}${path}?watch=1&resourceVersion=${resourceVersion}&timeoutSeconds=5`;
  return new Promise((resolve, reject) => {
    const req = request(url, { ...tls, method: "GET" }, (response) => {
      let buffered = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        buffered += chunk;
        const newline = buffered.indexOf("\n");
        if (newline === -1) return;
        const event = JSON.parse(buffered.slice(0, newline)) as { type: string; object?: { code?: number } };
        resolve({
          status: response.statusCode ?? 0,
          firstEvent: { type: event.type, code: event.object?.code },
        });
        req.destroy();
      });
      response.on("end", () => resolve({ status: response.statusCode ?? 0 }));
    });
    req.on("error", reject);
    req.end();
  });
}

/**
 * Resolves as soon as the audit log shows a write by `identity` received after `sinceMs`: the
 * moment to freeze a leader in the middle of its work. Reads only what was appended since the last
 * look.
 */
export async function nextWriteBy(identity: string, sinceMs: number, timeoutMs = 60_000): Promise<void> {
  const file = await open(auditLogPath(planePaths()), "r");
  try {
    let offset = (await file.stat()).size;
    let partial = "";
    await waitFor(
      `a write by ${identity}`,
      async () => {
        const { size } = await file.stat();
        if (size <= offset) return undefined;
        const buffer = Buffer.alloc(size - offset);
        await file.read(buffer, 0, buffer.length, offset);
        offset = size;
        const lines = (partial + buffer.toString("utf8")).split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) {
          const raw = JSON.parse(line) as {
            stage?: string;
            verb?: string;
            user?: { username?: string };
            objectRef?: { resource?: string };
            requestReceivedTimestamp?: string;
          };
          if (
            raw.stage === "ResponseComplete" &&
            raw.user?.username === identity &&
            ["create", "update", "patch", "delete"].includes(raw.verb ?? "") &&
            raw.objectRef?.resource !== "leases" &&
            Date.parse(raw.requestReceivedTimestamp ?? "") >= sinceMs
          ) {
            return true;
          }
        }
        return undefined;
      },
      timeoutMs,
      5,
    );
  } finally {
    await file.close();
  }
}
