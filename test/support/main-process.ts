// `node src/main.ts` as a child process, the way an operator runs it, with its log lines parsed.
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { waitFor } from "./https-client.ts";
import type { LogRecord } from "./test-server.ts";

const REPO_ROOT = join(import.meta.dirname, "..", "..");

export interface MainProcess {
  child: ChildProcess;
  logs: LogRecord[];
  /** Lines of stdout that were not JSON (there should be none). */
  otherStdout: string[];
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The port from fastify's "Server listening at https://host:port" line. */
  listeningPort(): Promise<number>;
}

/** Spawns main with exactly `env` (plus PATH): nothing leaks in from the test runner's environment. */
export function spawnMain(env: Record<string, string>, args: string[] = []): MainProcess {
  const child = spawn(process.execPath, ["src/main.ts", ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: LogRecord[] = [];
  const otherStdout: string[] = [];
  let stderr = "";
  let pending = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    pending += chunk;
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) {
      if (line.startsWith("{")) logs.push(JSON.parse(line) as LogRecord);
      else otherStdout.push(line);
    }
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("exit", (code, signal) => resolve({ code, signal }));
  });
  return {
    child,
    logs,
    otherStdout,
    stderr: () => stderr,
    exited,
    listeningPort: () =>
      waitFor(
        "the server to listen",
        () => {
          if (child.exitCode !== null) throw new Error(`main exited ${child.exitCode}: ${stderr}`);
          for (const line of logs) {
            const match = /^Server listening at https:\/\/[^\s]+:(\d+)$/.exec(line.msg);
            if (match?.[1] !== undefined) return Number(match[1]);
          }
          return undefined;
        },
        15_000,
      ),
  };
}
