// The bench's results: their shape (bench/results/latest.json) and the markdown table that the
// README and latest.md show.
import type { ReconcileSection } from "../reconcile-section.ts";

export interface Skipped {
  what: string;
  why: string;
}

interface SubjectFigures {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** median over rounds of subject ÷ control req/s (higher is better) */
  throughputRatio: number;
  /** median over rounds of subject ÷ control p99 (lower is better) */
  p99Ratio: number;
  /** the server's CPU time (all threads) per answered request, µs */
  cpuMicros: number;
  /** median over rounds of subject ÷ control CPU per request (lower is better) */
  cpuRatio: number;
  responseSha256: string;
}

export interface ReviewRow {
  review: string;
  bytes: number;
  control: { rps: number; p50Ms: number; p99Ms: number; cpuMicros: number };
  subjects: Record<string, SubjectFigures>;
}

export interface BenchResults {
  date: string;
  node: string;
  command: string;
  settings: {
    rounds: number;
    seconds: number;
    warmupSeconds: number;
    connections: number;
    soakSeconds: number;
  };
  control: string;
  subjects: string[];
  reviews: ReviewRow[];
  tls: { httpsRps: number; httpRps: number; ratio: number };
  openLoop: {
    fraction: number;
    rate: number;
    control: { p50Ms: number; p99Ms: number };
    subjects: Record<
      string,
      { p50Ms: number; p99Ms: number; p50Ratio: number; p99Ratio: number; late: number }
    >;
  }[];
  startup: Record<string, { ms: number; ratio: number }>;
  rss: Record<string, { idleBytes: number; idleRatio: number; loadedBytes: number; loadedRatio: number }>;
  /** sha256 of each subject's answer per review: the same bytes on every run */
  sameAnswers: Record<string, Record<string, string>>;
  reconcile: ReconcileSection;
  skipped: Skipped[];
  seconds: number;
}

const x = (value: number) => (Number.isFinite(value) ? `${value.toFixed(2)}×` : "n/a");
const ms = (value: number) => (Number.isFinite(value) ? value.toFixed(2) : "n/a");
const mib = (bytes: number) => (Number.isFinite(bytes) ? (bytes / 1024 / 1024).toFixed(0) : "n/a");

export function renderMarkdown(results: BenchResults): string {
  const { subjects, control } = results;
  const lines: string[] = [];
  const s = results.settings;
  lines.push(
    `Measured ${results.date.slice(0, 16).replace("T", " ")} UTC with \`${results.command}\` (Node ${results.node}, ` +
      `${s.rounds} alternated rounds of ${s.seconds} s after ${s.warmupSeconds} s warm-up, ${s.connections} keep-alive ` +
      `HTTPS connections, load from bench/loadgen). Every ratio is against **${control}** (parses the same review, ` +
      "answers a constant allow) in the same run, as the median of the per-round ratios.",
  );
  const eight = results.reviews.find((row) => row.review === "create-8kb");
  if (eight !== undefined) {
    lines.push("");
    for (const name of subjects) {
      const figures = eight.subjects[name];
      if (figures === undefined) continue;
      lines.push(
        `- **${name}** on the 8 KB CREATE review: throughput ${x(figures.throughputRatio)}, p99 ${x(figures.p99Ratio)}, ` +
          `CPU per request ${x(figures.cpuRatio)} of ${control}'s.`,
      );
    }
  }
  lines.push("");
  lines.push(
    "**Saturation, closed loop** (throughput ÷ control: higher is better; p99 and CPU per request ÷ control: lower is better; " +
      "CPU is the server process's user + system time, all threads, per answered request)",
  );
  lines.push("");
  lines.push(
    "| review | bytes | server | req/s | p99 ms | CPU µs/req | throughput ÷ control | p99 ÷ control | CPU ÷ control |",
  );
  lines.push("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const row of results.reviews) {
    const c = row.control;
    lines.push(
      `| ${row.review} | ${row.bytes} | ${control} | ${Math.round(c.rps)} | ${ms(c.p99Ms)} | ${c.cpuMicros.toFixed(0)} | 1.00× | 1.00× | 1.00× |`,
    );
    for (const name of subjects) {
      const f = row.subjects[name];
      if (f === undefined) continue;
      lines.push(
        `| | | ${name} | ${Math.round(f.rps)} | ${ms(f.p99Ms)} | ${f.cpuMicros.toFixed(0)} | ${x(f.throughputRatio)} | ${x(f.p99Ratio)} | ${x(f.cpuRatio)} |`,
      );
    }
  }
  lines.push("");
  lines.push(
    "**Open loop on create-8kb** (requests due at a fixed rate; latency from when each was due, so no coordinated omission)",
  );
  lines.push("");
  lines.push(
    `| rate | ${control} p50 / p99 ms | ${subjects.map((name) => `${name} p50 / p99 ms | ${name} p99 ÷ control`).join(" | ")} |`,
  );
  lines.push(`| --- | --- | ${subjects.map(() => "--- | ---:").join(" | ")} |`);
  for (const entry of results.openLoop) {
    const cells = subjects.map((name) => {
      const figures = entry.subjects[name];
      return figures === undefined
        ? "n/a | n/a"
        : figures.late > 0
          ? `≥ ${ms(figures.p50Ms)} / ≥ ${ms(figures.p99Ms)} (fell behind: ${figures.late} unsent at the end) | ≥ ${x(figures.p99Ratio)}`
          : `${ms(figures.p50Ms)} / ${ms(figures.p99Ms)} | ${x(figures.p99Ratio)}`;
    });
    lines.push(
      `| ${entry.fraction * 100} % of control saturation (${entry.rate} req/s) | ${ms(entry.control.p50Ms)} / ${ms(entry.control.p99Ms)} | ${cells.join(" | ")} |`,
    );
  }
  lines.push("");
  lines.push("**Process** (ratios against the control, which imports the same libraries prepull loads)");
  lines.push("");
  lines.push(
    `| server | start-up to ready ms | ÷ control | idle RSS MiB | ÷ control | RSS after load MiB | ÷ control |`,
  );
  lines.push("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const name of [control, ...subjects]) {
    const up = results.startup[name];
    const rss = results.rss[name];
    if (up === undefined || rss === undefined) continue;
    lines.push(
      `| ${name} | ${up.ms.toFixed(0)} | ${x(up.ratio)} | ${mib(rss.idleBytes)} | ${x(rss.idleRatio)} | ${mib(rss.loadedBytes)} | ${x(rss.loadedRatio)} |`,
    );
  }
  lines.push("");
  lines.push(
    `RSS after load: after every section above and ${s.soakSeconds} s of sustained open-loop load on all servers at once. ` +
      `TLS share: ${control} over HTTPS ÷ over HTTP = ${x(results.tls.ratio)} throughput ` +
      `(${Math.round(results.tls.httpsRps)} vs ${Math.round(results.tls.httpRps)} req/s, create-8kb).`,
  );
  if ("outputs" in results.reconcile) {
    lines.push("");
    lines.push("**Reconcile benchmarks** (`--reconcile`, on this worktree's plane)");
    for (const [bench, output] of Object.entries(results.reconcile.outputs)) {
      lines.push("", `${bench}:`, "", "```", output, "```");
    }
  } else {
    lines.push("", `Reconcile benchmarks: ${results.reconcile.skipped}.`);
  }
  for (const skip of results.skipped) lines.push("", `Not measured: ${skip.what}: ${skip.why}`);
  return lines.join("\n");
}
