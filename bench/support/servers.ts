// Starting and stopping the servers the bench compares, each as its own process on loopback:
// start-up time is spawn → first 200 from its readiness path, RSS comes from /proc.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

export interface ServerSpec {
  /** Short name used in tables and results. */
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  scheme: "https" | "http";
  mutatePath: string;
  readyPath: string;
  /** Where its stdout and stderr go. */
  logFile: string;
}

export interface RunningBenchServer {
  spec: ServerSpec;
  pid: number;
  port: number;
  mutateUrl: string;
  startupMs: number;
  rssBytes(): Promise<number>;
  /** User + system CPU seconds of the process so far, all threads (GC, thread pool) included. */
  cpuSeconds(): Promise<number>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

function get(scheme: "https" | "http", port: number, path: string, ca: string): Promise<number> {
  return new Promise((resolve) => {
    const request = scheme === "https" ? httpsRequest : httpRequest;
    const req = request({ host: "127.0.0.1", port, path, ca, timeout: 1000, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", () => resolve(0));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

/** Linux's USER_HZ, the unit of utime and stime in /proc/<pid>/stat; 100 on every common build. */
const CLOCK_TICKS_PER_SECOND = 100;

async function cpuOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may hold spaces) start at state, the third field.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kib === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kib) * 1024;
}

const STARTUP_TIMEOUT_MS = 60_000;

export async function startServer(spec: ServerSpec, ca: string): Promise<RunningBenchServer> {
  const port = await freePort();
  const log = createWriteStream(spec.logFile, { flags: "a" });
  await once(log, "open");
  const started = performance.now();
  const child: ChildProcess = spawn(spec.command, spec.args, {
    env: { ...process.env, ...spec.env, PORT: String(port) },
    stdio: ["ignore", log, log],
  });
  const exited = once(child, "exit");
  let exitCode: number | null | undefined;
  exited.then(([code]) => {
    exitCode = code as number | null;
  });
  while ((await get(spec.scheme, port, spec.readyPath, ca)) !== 200) {
    if (exitCode !== undefined) {
      throw new Error(`${spec.name} exited with ${exitCode} before it was ready; see ${spec.logFile}`);
    }
    if (performance.now() - started > STARTUP_TIMEOUT_MS) {
      child.kill("SIGKILL");
      throw new Error(`${spec.name} not ready after ${STARTUP_TIMEOUT_MS / 1000} s; see ${spec.logFile}`);
    }
    await sleep(5);
  }
  const startupMs = performance.now() - started;
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${spec.name} has no pid`);
  return {
    spec,
    pid,
    port,
    mutateUrl: `${spec.scheme}://127.0.0.1:${port}${spec.mutatePath}`,
    startupMs,
    rssBytes: () => rssOf(pid),
    cpuSeconds: () => cpuOf(pid),
    async stop() {
      if (exitCode === undefined) {
        child.kill("SIGTERM");
        // Pepr keeps its store watch open after closing its server; the bench waits no longer.
        const timer = setTimeout(() => child.kill("SIGKILL"), 3_000);
        await exited;
        clearTimeout(timer);
      }
      log.end();
    },
  };
}
