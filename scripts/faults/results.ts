// Each fault run appends one line to .prepull/faults/results.jsonl, so the table in docs/faults.md
// can be rebuilt from what actually ran (npm run faults:table).
import { appendFile, mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { REPO_ROOT } from "../cluster/paths.ts";

const RESULTS_FILE = join(REPO_ROOT, ".prepull", "faults", "results.jsonl");

export interface FaultResult {
  fault: string;
  /** Time from the end of the fault (or of the churn) to the exact final state. */
  convergeMs: number;
  /** What was lost or wrong at the end: empty when nothing. */
  lost: string[];
  /** Anything else worth a column: counts of operations, writes, 410s seen. */
  detail: Record<string, number | string>;
  at?: string;
}

export async function recordResult(result: FaultResult): Promise<void> {
  await mkdir(join(REPO_ROOT, ".prepull", "faults"), { recursive: true });
  const line = { ...result, at: result.at ?? new Date().toISOString() };
  await appendFile(RESULTS_FILE, `${JSON.stringify(line)}\n`);
  process.stdout.write(
    `fault ${result.fault}: converged ${result.convergeMs} ms after it ended; lost: ${
      result.lost.length === 0 ? "nothing" : result.lost.join("; ")
    }; ${JSON.stringify(result.detail)}\n`,
  );
}

export async function readResults(): Promise<FaultResult[]> {
  const text = await readFile(RESULTS_FILE, "utf8").catch(() => "");
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as FaultResult);
}
