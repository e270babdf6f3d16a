// Supervision of the processes the plane runs besides kwokctl's (the real node, the demo's
// prepull, an apiserver a fault test restarted): each runs detached (it outlives `cluster:up`),
// logs to <logs>/<name>.log and has its pid in <pids>/<name>.pid, the directories and pid file
// format kwokctl uses for its components. A process is "ours" only if
// its command line names our state directory and one of our programs (a control-plane binary, or
// prepull's src/main.ts as the demo runs it), so a recycled pid or an unrelated process is never
// signalled.
import { spawn } from "node:child_process";
import { open, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { BINARIES, NODE_BINARIES } from "./binaries.ts";
import { type ClusterPaths, REPO_ROOT } from "./paths.ts";

export interface ProcessSpec {
  name: string;
  command: string;
  args: readonly string[];
  /** Added to (and overriding) this process's environment. */
  env?: Record<string, string>;
}

export async function startProcess(paths: ClusterPaths, spec: ProcessSpec): Promise<number> {
  const log = await open(join(paths.logs, `${spec.name}.log`), "a");
  try {
    const child = spawn(spec.command, spec.args, {
      detached: true,
      env: spec.env ? { ...process.env, ...spec.env } : process.env,
      stdio: ["ignore", log.fd, log.fd],
    });
    const pid = child.pid;
    if (pid === undefined) {
      const error = await new Promise<Error>((resolve) => child.once("error", resolve));
      throw new Error(`cannot start ${spec.name} (${spec.command}): ${error.message}`);
    }
    child.unref();
    // No newline: kwokctl reads pid files with strconv.Atoi, and `kwokctl delete cluster` must
    // stop a component a fault test restarted (faults.ts).
    await writeFile(pidFile(paths, spec.name), String(pid));
    return pid;
  } finally {
    await log.close();
  }
}

function pidFile(paths: ClusterPaths, name: string): string {
  return join(paths.pids, `${name}.pid`);
}

export async function readPid(paths: ClusterPaths, name: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(pidFile(paths, name), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** The argv of a live process; undefined once it has exited. */
export async function commandLine(pid: number): Promise<string[] | undefined> {
  try {
    const raw = await readFile(`/proc/${pid}/cmdline`, "utf8");
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    // Field 3 of stat, after the parenthesised command name, is the state; Z is a zombie (exited).
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    if (state === "Z" || state === "X") return undefined;
    return raw.split("\0").filter((part) => part !== "");
  } catch (error) {
    // ENOENT: gone. ESRCH: exiting right now (reading /proc/<pid>/cmdline of a dying process).
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ESRCH") return undefined;
    throw error;
  }
}

const PREPULL_MAIN = join(REPO_ROOT, "src", "main.ts");
/** Node scripts that run as plane processes: prepull as the demo runs it, the registry's throttle, the pods' apiserver forwarder. */
const OWN_SCRIPTS = [
  PREPULL_MAIN,
  ...["throttle-proxy.ts", "apiserver-forward.ts"].map((f) =>
    join(REPO_ROOT, "scripts", "cluster", "real-node", f),
  ),
];
/**
 * The plane's programs: the cached binaries, kwok as kwokctl links it into its cluster directory,
 * and the real node's programs (the runc shims name our containerd's socket in their arguments).
 */
const PROGRAMS: readonly string[] = [...BINARIES, "kwok-controller", ...NODE_BINARIES];

function isOurs(argv: readonly string[], paths: ClusterPaths): boolean {
  const program = argv[0];
  if (program === undefined) return false;
  const name = basename(program);
  const isPlaneBinary = PROGRAMS.includes(name);
  const isOwnScript = argv[1] !== undefined && OWN_SCRIPTS.includes(argv[1]);
  return (isPlaneBinary || isOwnScript) && argv.some((arg) => arg.includes(paths.root));
}

/** True when the pid is alive and is one of our plane's processes. */
export async function isOurProcess(pid: number, paths: ClusterPaths): Promise<boolean> {
  const argv = await commandLine(pid);
  return argv !== undefined && isOurs(argv, paths);
}

/** Every live process of this plane, found through /proc (also those whose pid file is gone). */
export async function findOurProcesses(paths: ClusterPaths, program?: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const argv = await commandLine(pid);
    if (
      argv !== undefined &&
      isOurs(argv, paths) &&
      (program === undefined || basename(argv[0] ?? "") === program)
    )
      pids.push(pid);
  }
  return pids;
}

/** SIGTERM, then SIGKILL after the grace period; resolves once the process is gone. */
export async function stopProcess(pid: number, paths: ClusterPaths, graceMs = 10_000): Promise<void> {
  if (!(await isOurProcess(pid, paths))) return;
  signal(pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!(await isOurProcess(pid, paths))) return;
    await sleep(100);
  }
  signal(pid, "SIGKILL");
  while (await isOurProcess(pid, paths)) await sleep(100);
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    // ESRCH: it exited between our check and the signal, which is what we wanted.
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}

export async function removePidFile(paths: ClusterPaths, name: string): Promise<void> {
  await rm(pidFile(paths, name), { force: true });
}
