// The control-plane benchmarks (bench/reconcile-*.ts, bench/admission-plane.ts) as a section of `npm run bench -- --plane`:
// each runs as its own process against this worktree's plane and its output is kept verbatim.
import { execFile } from "node:child_process";
import { access } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { clusterPaths } from "../scripts/cluster/paths.ts";

const execFileAsync = promisify(execFile);

export type ReconcileSection = { skipped: string } | { outputs: Record<string, string> };

const BENCHES: { file: string; args: string[] }[] = [
  { file: "reconcile-latency.ts", args: ["--samples", "15"] },
  { file: "reconcile-rollout.ts", args: [] },
  { file: "admission-plane.ts", args: [] },
];

export async function runReconcileBenches(
  repo: string,
  say: (line: string) => void,
): Promise<ReconcileSection> {
  const { kubeconfig } = clusterPaths();
  try {
    await access(kubeconfig);
  } catch {
    return { skipped: `no control plane: ${kubeconfig} is missing; run \`npm run cluster:up\` first` };
  }
  const outputs: Record<string, string> = {};
  for (const bench of BENCHES) {
    say(`reconcile: ${bench.file}`);
    try {
      const { stdout } = await execFileAsync(
        process.execPath,
        [join(repo, "bench", bench.file), ...bench.args],
        {
          cwd: repo,
          timeout: 300_000,
          maxBuffer: 16 * 1024 * 1024,
        },
      );
      outputs[bench.file] = stdout.trim();
    } catch (error) {
      outputs[bench.file] = `failed: ${(error as Error).message.split("\n")[0]}`;
    }
  }
  return { outputs };
}
