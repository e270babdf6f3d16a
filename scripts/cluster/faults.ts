// Faults a test can inflict on the running plane: the apiserver stopped and started again (same
// command line, same ports, same etcd), and etcd compacted to its newest revision so that every
// resourceVersion handed out before is gone (a watch resumed from one gets 410 Gone).
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { healthUrl, kubeApiserver } from "./components.ts";
import type { ClusterPaths } from "./paths.ts";
import { isHealthy, type TlsClient, waitUntil } from "./probe.ts";
import { readPid, startProcess, stopProcess } from "./processes.ts";
import { type PlaneState, readState } from "./state.ts";

async function planeState(paths: ClusterPaths): Promise<PlaneState> {
  const state = await readState(paths);
  if (state === undefined) throw new Error(`no running plane in ${paths.root}`);
  return state;
}

async function adminTls(paths: ClusterPaths): Promise<TlsClient> {
  const [ca, cert, key] = await Promise.all(
    ["ca.crt", "admin.crt", "admin.key"].map((file) => readFile(join(paths.pki, file))),
  );
  return { ca: ca as Buffer, cert: cert as Buffer, key: key as Buffer };
}

export interface ApiserverOutage {
  /** How the apiserver goes: SIGTERM (graceful, as in a rolling update) or SIGKILL (a crash). */
  signal: "SIGTERM" | "SIGKILL";
  /** How long it stays down once it has exited. */
  downMs: number;
}

/** Stops kube-apiserver, keeps it down for `downMs`, starts it again and waits for /readyz. */
export async function apiserverOutage(paths: ClusterPaths, outage: ApiserverOutage): Promise<void> {
  const state = await planeState(paths);
  const pid = await readPid(paths, "kube-apiserver");
  if (pid === undefined) throw new Error(`kube-apiserver has no pid file in ${paths.pids}`);
  if (outage.signal === "SIGKILL") process.kill(pid, "SIGKILL");
  // Returns once the process is gone (after a SIGTERM, it drains its requests first).
  await stopProcess(pid, paths, 30_000);
  await sleep(outage.downMs);
  await startProcess(paths, await kubeApiserver(paths, state));
  const tls = await adminTls(paths);
  await waitUntil(
    async () => ((await isHealthy(healthUrl("kube-apiserver", state), tls)) ? true : undefined),
    {
      what: `kube-apiserver to be ready again (log: ${join(paths.logs, "kube-apiserver.log")})`,
      timeoutMs: 120_000,
    },
  );
}

/** etcd's v3 JSON gateway (the same API etcdctl speaks over gRPC). */
async function etcdCall(state: PlaneState, path: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(`http://127.0.0.1:${state.ports.etcdClient}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`etcd ${path} answered ${response.status}: ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** Compacts etcd's history up to its newest revision; returns that revision. */
export async function compactEtcd(paths: ClusterPaths): Promise<number> {
  const state = await planeState(paths);
  // Any range read reports the store's current revision in its header.
  const range = await etcdCall(state, "/v3/kv/range", { key: Buffer.from("/").toString("base64") });
  const header = range.header as { revision?: string } | undefined;
  const revision = Number(header?.revision);
  if (!Number.isInteger(revision) || revision <= 0)
    throw new Error(`etcd reported no revision: ${JSON.stringify(range)}`);
  await etcdCall(state, "/v3/kv/compaction", { revision: String(revision), physical: true });
  return revision;
}
