// npm run faults [-- --rounds N] [--soak-minutes M] [--table]
//
// Runs the fault suite N times in a row (default 1), then the soak for M minutes (default 1; 0
// skips it; 10 is the full soak): the e2e fault tests against the local plane (apiserver stopped
// 20 s, etcd compaction + 410, apiserver crash, leader SIGKILL x3, prepull killed during
// admission, containerd and the kubelet restarted mid-pull on the real node) and the certificate
// rotation under load, and the leader frozen past its lease. Each test appends its outcome to
// .prepull/faults/results.jsonl; at the end the table of this invocation (each fault: how often
// tried, time to converge, what was lost) is printed as Markdown, ready for docs/faults.md.
// `--table` prints the table of every recorded run without running anything. Bounded: each
// vitest run has its own test timeouts, and the soak stops after M minutes plus at most 5 to
// converge.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { REPO_ROOT } from "./cluster/paths.ts";
import { type FaultResult, readResults } from "./faults/results.ts";

const VITEST = join(REPO_ROOT, "node_modules", "vitest", "vitest.mjs");
const E2E_FILES = [
  "test/e2e/faults-apiserver.test.ts",
  "test/e2e/faults-apiserver-crash.test.ts",
  "test/e2e/faults-leader.test.ts",
  "test/e2e/faults-freeze.test.ts",
  "test/e2e/faults-admission.test.ts",
  "test/e2e/faults-real-node.test.ts",
];
const SOAK = join(REPO_ROOT, "scripts", "soak.ts");
const UNIT_FILES = ["test/http/tls-rotation-load.test.ts"];

function runNode(args: string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: "inherit" });
    child.once("exit", (code) => resolve(code ?? 1));
  });
}

const run = (args: string[]) => runNode([VITEST, "run", ...args]);

export function table(results: readonly FaultResult[]): string {
  const byFault = new Map<string, FaultResult[]>();
  for (const result of results) byFault.set(result.fault, [...(byFault.get(result.fault) ?? []), result]);
  const lines = ["| fault | tried | time to converge (min / median / max) | lost |", "|---|---|---|---|"];
  for (const [fault, runs] of byFault) {
    const ms = runs.map((r) => r.convergeMs).sort((a, b) => a - b);
    const median = ms[Math.floor((ms.length - 1) / 2)] ?? 0;
    const lost = [...new Set(runs.flatMap((r) => r.lost))];
    const seconds = (n: number | undefined) => `${((n ?? 0) / 1000).toFixed(1)} s`;
    lines.push(
      `| ${fault} | ${runs.length} | ${seconds(ms[0])} / ${seconds(median)} / ${seconds(ms.at(-1))} | ${lost.length === 0 ? "nothing" : lost.join("; ")} |`,
    );
  }
  return lines.join("\n");
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { rounds: { type: "string" }, "soak-minutes": { type: "string" }, table: { type: "boolean" } },
  });
  if (values.table) {
    console.log(table(await readResults()));
    return 0;
  }
  const rounds = Number(values.rounds ?? "1");
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 100)
    throw new Error(`--rounds must be an integer from 1 to 100, got "${values.rounds}"`);
  const soakMinutes = Number(values["soak-minutes"] ?? "1");
  if (!Number.isFinite(soakMinutes) || soakMinutes < 0 || soakMinutes > 24 * 60)
    throw new Error(`--soak-minutes must be a number from 0 to 1440, got "${values["soak-minutes"]}"`);
  const since = new Date().toISOString();
  let failed = 0;
  for (let round = 1; round <= rounds; round++) {
    console.error(`\nfault suite, round ${round} of ${rounds}`);
    if ((await run(["--project", "unit", ...UNIT_FILES])) !== 0) failed++;
    if ((await run(["--project", "e2e", ...E2E_FILES])) !== 0) failed++;
  }
  if (soakMinutes > 0) {
    console.error(`\nsoak, ${soakMinutes} min`);
    if ((await runNode([SOAK, "--minutes", String(soakMinutes)])) !== 0) failed++;
  }
  const results = (await readResults()).filter((r) => (r.at ?? "") >= since);
  console.log(`\n${table(results)}\n`);
  if (failed > 0) console.error(`${failed} run(s) failed; see above`);
  return failed > 0 ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
