// Faults a test can inflict on the running plane: the apiserver stopped and started again (same
// command line, same ports, same etcd), and etcd compacted to its newest revision so that every
// resourceVersion handed out before is gone (a watch resumed from one gets 410 Gone). kwokctl
// starts and stops whole clusters only, so the apiserver is restarted here, from the command line
// kwokctl gave it, into kwokctl's own pid file and log.
import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { healthUrl } from "./components.ts";
import type { ClusterPaths } from "./paths.ts";
import { isHealthy, type TlsClient, waitUntil } from "./probe.ts";
import { commandLine, readPid, startProcess, stopProcess } from "./processes.ts";
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
  /**
   * SIGTERM: a graceful stop, as in a rolling update (it closes its listener at once, then drains;
   * SIGKILL if it has not exited within 10 s: kube-apiserver can take far longer over open
   * watches). SIGKILL: a crash.
   */
  signal: "SIGTERM" | "SIGKILL";
  /** How long nothing listens on the apiserver's port. */
  downMs: number;
  /** Done once the old apiserver has exited and before the new one starts (within `downMs`). */
  whileDown?: () => Promise<void>;
}

export interface OutageTimes {
  /** From the signal until the port was free. */
  closeMs: number;
  /** From the port being free until the new apiserver was ready. */
  downMs: number;
}

/**
 * Stops kube-apiserver, keeps its port closed for `downMs`, starts it again (same command line,
 * ports and etcd) and waits for /readyz.
 */
export async function apiserverOutage(paths: ClusterPaths, outage: ApiserverOutage): Promise<OutageTimes> {
  const state = await planeState(paths);
  const pid = await readPid(paths, "kube-apiserver");
  if (pid === undefined) throw new Error(`kube-apiserver has no pid file in ${paths.pids}`);
  const argv = await commandLine(pid);
  const [command, ...args] = argv ?? [];
  if (command === undefined) throw new Error(`kube-apiserver (pid ${pid}) is not running`);
  const signalled = performance.now();
  process.kill(pid, outage.signal);
  // /proc shows a process as gone once its memory is released, a moment before its sockets are:
  // wait for the port itself.
  await waitUntil(async () => ((await portIsFree(state.ports.apiserver)) ? true : undefined), {
    what: `port ${state.ports.apiserver} to be released by the stopping kube-apiserver`,
    timeoutMs: 30_000,
    intervalMs: 20,
  });
  const closed = performance.now();
  await Promise.all([
    (async () => {
      await stopProcess(pid, paths, 10_000);
      await outage.whileDown?.();
    })(),
    sleep(outage.downMs),
  ]);
  await startProcess(paths, { name: "kube-apiserver", command, args });
  const tls = await adminTls(paths);
  await waitUntil(
    async () => ((await isHealthy(healthUrl("kube-apiserver", state), tls)) ? true : undefined),
    {
      what: `kube-apiserver to be ready again (log: ${join(paths.logs, "kube-apiserver.log")})`,
      timeoutMs: 120_000,
    },
  );
  return { closeMs: Math.round(closed - signalled), downMs: Math.round(performance.now() - closed) };
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
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

/**
 * Writes a marker key outside the apiserver's prefix, then compacts etcd's history up to that
 * write's revision; returns the revision. The marker makes the compacted revision newer than any
 * resourceVersion a client holds (a bookmark or an object's version can at most equal the newest
 * revision before it). Done while the apiserver is down, nothing else writes: every watch resumed
 * from a version handed out before is refused with 410 Gone.
 */
export async function compactEtcd(paths: ClusterPaths): Promise<number> {
  const state = await planeState(paths);
  const put = await etcdCall(state, "/v3/kv/put", {
    key: Buffer.from("/prepull-faults/compaction-marker").toString("base64"),
    value: Buffer.from(new Date().toISOString()).toString("base64"),
  });
  const header = put.header as { revision?: string } | undefined;
  const revision = Number(header?.revision);
  if (!Number.isInteger(revision) || revision <= 0)
    throw new Error(`etcd reported no revision: ${JSON.stringify(put)}`);
  await etcdCall(state, "/v3/kv/compaction", { revision: String(revision), physical: true });
  return revision;
}
