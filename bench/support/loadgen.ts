// Runs bench/loadgen (Go) against one server and returns its one-line JSON report.
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export interface LoadResult {
  mode: "closed" | "open";
  requests: number;
  errors: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  firstError?: string;
  responseSha256: string;
  responseBytes: number;
  targetRate?: number;
  warmupRequests: number;
  /** open mode: requests still unsent when the run's time was up (their wait counts as a lower bound) */
  late: number;
}

export interface LoadRun {
  url: string;
  caFile?: string;
  bodyFile: string;
  mode: "closed" | "open";
  connections: number;
  seconds: number;
  warmupSeconds: number;
  /** open mode: requests per second */
  rate?: number;
  /** upper bound on measured requests, whatever the duration */
  maxRequests: number;
}

export async function runLoad(loadgen: string, run: LoadRun): Promise<LoadResult> {
  const args = [
    `-url=${run.url}`,
    `-body=${run.bodyFile}`,
    `-mode=${run.mode}`,
    `-conns=${run.connections}`,
    `-duration=${run.seconds}s`,
    `-warmup=${run.warmupSeconds}s`,
    `-max=${run.maxRequests}`,
  ];
  if (run.caFile !== undefined) args.push(`-ca=${run.caFile}`);
  if (run.rate !== undefined) args.push(`-rate=${run.rate}`);
  const { stdout } = await execFileAsync(loadgen, args, {
    timeout: (run.seconds + run.warmupSeconds + 60) * 1000,
  });
  const result = JSON.parse(stdout) as LoadResult;
  if (result.errors > 0) {
    throw new Error(`${run.url}: ${result.errors} failed requests, first: ${result.firstError ?? "?"}`);
  }
  return result;
}
