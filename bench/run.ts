// `npm run bench`: every performance figure of prepull in one bounded run, each a ratio against a
// control measured in the same run (alternated, median of the rounds). The control is a bare
// fastify HTTPS server that parses the same AdmissionReviews and answers a constant allow.
//
//   npm run bench                      admission figures and peers (about 6-8 minutes)
//   npm run bench -- --quick           one short round of everything, to check the harness
//   npm run bench -- --plane           also the Pepr peer, which needs a Kubernetes API for its store
//   npm run bench -- --reconcile       also the reconcile benchmarks (bench/reconcile-*.ts)
//                                      both need `npm run cluster:up` in this worktree first
//   npm run bench -- --soak-seconds=300   the sustained-load RSS figure after 5 minutes
//
// Prints a table and writes bench/results/latest.json and latest.md; the README's bench section
// is rewritten from latest.md.
import { mkdtempSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { clusterPaths } from "../scripts/cluster/paths.ts";
import { peprPeer } from "./peers/pepr-server.ts";
import { runReconcileBenches } from "./reconcile-section.ts";
import { type BenchReview, benchReview, REVIEW_SIZES } from "./reviews.ts";
import { controllerRuntimePeer, controlSpec, prepullSpec } from "./servers.ts";
import { benchCertificates } from "./support/certs.ts";
import { buildGo } from "./support/go-build.ts";
import { type LoadResult, runLoad } from "./support/loadgen.ts";
import { type BenchResults, type ReviewRow, renderMarkdown, type Skipped } from "./support/report.ts";
import { type RunningBenchServer, type ServerSpec, startServer } from "./support/servers.ts";
import { median, pairedRatio, rotate } from "./support/stats.ts";

const REPO = resolve(import.meta.dirname, "..");
const { values: flags } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    plane: { type: "boolean", default: false },
    reconcile: { type: "boolean", default: false },
    "no-peers": { type: "boolean", default: false },
    rounds: { type: "string" },
    seconds: { type: "string" },
    "soak-seconds": { type: "string" },
    connections: { type: "string", default: "8" },
    out: { type: "string", default: join(REPO, "bench", "results") },
    "no-readme": { type: "boolean", default: false },
  },
});

function positive(name: string, raw: string | undefined, fallback: number): number {
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`--${name} must be a positive number, got ${raw}`);
  return value;
}

const rounds = positive("rounds", flags.rounds, flags.quick ? 1 : 3);
const seconds = positive("seconds", flags.seconds, flags.quick ? 1 : 3);
const soakSeconds = positive("soak-seconds", flags["soak-seconds"], flags.quick ? 5 : 30);
const connections = positive("connections", flags.connections, 8);
const warmupSeconds = flags.quick ? 0.25 : 0.5;
/** An upper bound on requests per measurement, whatever the duration. */
const MAX_REQUESTS = 500_000;

const work = mkdtempSync(join(tmpdir(), "prepull-bench-"));
const began = performance.now();
const say = (line: string) =>
  process.stderr.write(`bench [${((performance.now() - began) / 1000).toFixed(0)} s] ${line}\n`);

const skipped: Skipped[] = [];
const certs = await benchCertificates(work);
const loadgen = await buildGo(join(REPO, "bench", "loadgen"), "loadgen");

const reviews: (BenchReview & { file: string })[] = [];
for (const operation of ["CREATE", "UPDATE"] as const) {
  for (const size of REVIEW_SIZES) {
    const review = benchReview(operation, size);
    const file = join(work, `${review.id}.json`);
    await writeFile(file, review.body);
    reviews.push({ ...review, file });
  }
}
const reference = reviews.find((review) => review.id === "create-8kb");
if (reference === undefined) throw new Error("no 8 KB CREATE review");

// Logs apart from the certificates: prepull watches its certificate's directory for rotation, and
// every write of a neighbour's log there would wake that watch (a Secret volume holds only the certificate).
const logs = join(work, "logs");
await mkdir(logs, { recursive: true });
const control = controlSpec(REPO, certs, join(logs, "control.log"), "https");
const controlHttp = controlSpec(REPO, certs, join(logs, "control-http.log"), "http");
const prepull = prepullSpec(REPO, certs, join(logs, "prepull.log"));
const peers: ServerSpec[] = [];
if (!flags["no-peers"]) {
  const cr = await controllerRuntimePeer(REPO, certs, join(logs, "controller-runtime.log"));
  if ("skipped" in cr) skipped.push(cr.skipped);
  else peers.push(cr.spec);
  const plane = flags.plane ? clusterPaths().kubeconfig : undefined;
  const pepr = await peprPeer(REPO, certs, join(logs, "pepr.log"), plane);
  if ("skipped" in pepr) skipped.push(pepr.skipped);
  else peers.push(pepr.spec);
}
// A peer that cannot start here is reported with its own words rather than failing the run.
for (const spec of [...peers]) {
  try {
    await (await startServer(spec, certs.caPem)).stop();
  } catch (error) {
    const log = await readFile(spec.logFile, "utf8").catch(() => "");
    const lastLine = log.trim().split("\n").at(-1) ?? "";
    skipped.push({
      what: spec.name,
      why: `${(error as Error).message}; its last log line: ${lastLine.slice(0, 400)}`,
    });
    peers.splice(peers.indexOf(spec), 1);
  }
}
const subjects = [prepull, ...peers];

// ---- start-up time and idle RSS: fresh processes, alternated ----------------------------------
say("start-up and idle RSS");
const startup = new Map<string, number[]>();
const idleRss = new Map<string, number[]>();
for (let round = 0; round < rounds; round++) {
  for (const spec of rotate([control, ...subjects], round)) {
    const server = await startServer(spec, certs.caPem);
    await new Promise((done) => setTimeout(done, 500));
    startup.set(spec.name, [...(startup.get(spec.name) ?? []), server.startupMs]);
    idleRss.set(spec.name, [...(idleRss.get(spec.name) ?? []), await server.rssBytes()]);
    await server.stop();
  }
}

// ---- long-lived servers for the load sections -------------------------------------------------
const running = new Map<string, RunningBenchServer>();
for (const spec of [control, controlHttp, ...subjects])
  running.set(spec.name, await startServer(spec, certs.caPem));
const serverOf = (spec: ServerSpec): RunningBenchServer => {
  const server = running.get(spec.name);
  if (server === undefined) throw new Error(`${spec.name} is not running`);
  return server;
};
/** A closed-loop measurement, with the server's CPU time per answered request. */
async function closed(
  spec: ServerSpec,
  review: { file: string },
): Promise<LoadResult & { cpuMicros: number }> {
  const server = serverOf(spec);
  const cpuBefore = await server.cpuSeconds();
  const result = await runLoad(loadgen, {
    url: server.mutateUrl,
    caFile: spec.scheme === "https" ? certs.caFile : undefined,
    bodyFile: review.file,
    mode: "closed",
    connections,
    seconds,
    warmupSeconds,
    maxRequests: MAX_REQUESTS,
  });
  const cpu = (await server.cpuSeconds()) - cpuBefore;
  return { ...result, cpuMicros: (cpu * 1e6) / (result.requests + result.warmupRequests) };
}

try {
  // ---- throughput and latency at saturation, per review ---------------------------------------
  const rows: ReviewRow[] = [];
  const answers = new Map<string, Map<string, string>>();
  for (const review of reviews) {
    say(`closed loop ${review.id} (${Buffer.byteLength(review.body)} bytes)`);
    const results = new Map<string, (LoadResult & { cpuMicros: number })[]>();
    for (let round = 0; round < rounds; round++) {
      for (const spec of rotate([control, ...subjects], round)) {
        const result = await closed(spec, review);
        results.set(spec.name, [...(results.get(spec.name) ?? []), result]);
      }
    }
    const base = results.get(control.name) ?? [];
    const row: ReviewRow = {
      review: review.id,
      bytes: Buffer.byteLength(review.body),
      control: {
        rps: median(base.map((r) => r.rps)),
        p50Ms: median(base.map((r) => r.p50Ms)),
        p99Ms: median(base.map((r) => r.p99Ms)),
        cpuMicros: median(base.map((r) => r.cpuMicros)),
      },
      subjects: {},
    };
    for (const spec of subjects) {
      const mine = results.get(spec.name) ?? [];
      row.subjects[spec.name] = {
        rps: median(mine.map((r) => r.rps)),
        p50Ms: median(mine.map((r) => r.p50Ms)),
        p99Ms: median(mine.map((r) => r.p99Ms)),
        throughputRatio: pairedRatio(
          mine.map((r) => r.rps),
          base.map((r) => r.rps),
        ),
        p99Ratio: pairedRatio(
          mine.map((r) => r.p99Ms),
          base.map((r) => r.p99Ms),
        ),
        cpuMicros: median(mine.map((r) => r.cpuMicros)),
        cpuRatio: pairedRatio(
          mine.map((r) => r.cpuMicros),
          base.map((r) => r.cpuMicros),
        ),
        responseSha256: mine[0]?.responseSha256 ?? "",
      };
      const perServer = answers.get(spec.name) ?? new Map<string, string>();
      perServer.set(review.id, mine[0]?.responseSha256 ?? "");
      answers.set(spec.name, perServer);
    }
    rows.push(row);
  }

  // ---- HTTPS ÷ HTTP on the control ------------------------------------------------------------
  say("HTTPS ÷ HTTP");
  const tls: { https: number[]; http: number[] } = { https: [], http: [] };
  for (let round = 0; round < rounds; round++) {
    for (const spec of rotate([control, controlHttp], round)) {
      const result = await closed(spec, reference);
      (spec === control ? tls.https : tls.http).push(result.rps);
    }
  }

  // ---- open loop at 50 % and 80 % of the control's saturation rate ----------------------------
  const saturation = rows.find((row) => row.review === reference.id)?.control.rps ?? Number.NaN;
  const openLoop: BenchResults["openLoop"] = [];
  for (const fraction of [0.5, 0.8]) {
    const rate = Math.round(saturation * fraction);
    say(`open loop at ${fraction * 100} % of ${Math.round(saturation)} req/s`);
    const results = new Map<string, LoadResult[]>();
    for (let round = 0; round < rounds; round++) {
      for (const spec of rotate([control, ...subjects], round)) {
        const result = await runLoad(loadgen, {
          url: serverOf(spec).mutateUrl,
          caFile: certs.caFile,
          bodyFile: reference.file,
          mode: "open",
          // Enough connections that a slow answer queues requests in the schedule, not in TCP.
          connections: 64,
          seconds: Math.max(seconds, 3),
          warmupSeconds,
          rate,
          maxRequests: MAX_REQUESTS,
        });
        results.set(spec.name, [...(results.get(spec.name) ?? []), result]);
      }
    }
    const base = results.get(control.name) ?? [];
    const entry: BenchResults["openLoop"][number] = {
      fraction,
      rate,
      control: { p50Ms: median(base.map((r) => r.p50Ms)), p99Ms: median(base.map((r) => r.p99Ms)) },
      subjects: {},
    };
    for (const spec of subjects) {
      const mine = results.get(spec.name) ?? [];
      entry.subjects[spec.name] = {
        p50Ms: median(mine.map((r) => r.p50Ms)),
        p99Ms: median(mine.map((r) => r.p99Ms)),
        p50Ratio: pairedRatio(
          mine.map((r) => r.p50Ms),
          base.map((r) => r.p50Ms),
        ),
        p99Ratio: pairedRatio(
          mine.map((r) => r.p99Ms),
          base.map((r) => r.p99Ms),
        ),
        late: mine.reduce((sum, r) => sum + r.late, 0),
      };
    }
    openLoop.push(entry);
  }

  // ---- sustained load, then RSS ---------------------------------------------------------------
  // Every server at once, each at the same fixed open-loop rate, so the soak costs its duration
  // once, not once per server.
  const soakRate = Math.round(saturation * 0.3);
  say(`sustained load: ${soakSeconds} s at ${soakRate} req/s on each server at once`);
  // allSettled: a server that falls behind still gets its RSS read; the soak only loads it.
  await Promise.allSettled(
    [control, ...subjects].map((spec) =>
      runLoad(loadgen, {
        url: serverOf(spec).mutateUrl,
        caFile: certs.caFile,
        bodyFile: reference.file,
        mode: "open",
        connections: 16,
        seconds: soakSeconds,
        warmupSeconds: 0,
        rate: soakRate,
        maxRequests: Number.MAX_SAFE_INTEGER,
      }),
    ),
  );
  const loadedRss = new Map<string, number>();
  for (const spec of [control, ...subjects]) loadedRss.set(spec.name, await serverOf(spec).rssBytes());

  const reconcile = flags.reconcile
    ? await runReconcileBenches(REPO, say)
    : { skipped: "not run: pass --reconcile with this worktree's control plane up (npm run cluster:up)" };

  const results: BenchResults = {
    date: new Date().toISOString(),
    node: process.version,
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`,
    settings: { rounds, seconds, warmupSeconds, connections, soakSeconds },
    control: control.name,
    subjects: subjects.map((spec) => spec.name),
    reviews: rows,
    tls: { httpsRps: median(tls.https), httpRps: median(tls.http), ratio: pairedRatio(tls.https, tls.http) },
    openLoop,
    startup: Object.fromEntries(
      [control, ...subjects].map((spec) => [
        spec.name,
        {
          ms: median(startup.get(spec.name) ?? []),
          ratio: pairedRatio(startup.get(spec.name) ?? [], startup.get(control.name) ?? []),
        },
      ]),
    ),
    rss: Object.fromEntries(
      [control, ...subjects].map((spec) => {
        const idle = median(idleRss.get(spec.name) ?? []);
        const loaded = loadedRss.get(spec.name) ?? Number.NaN;
        return [
          spec.name,
          {
            idleBytes: idle,
            idleRatio: pairedRatio(idleRss.get(spec.name) ?? [], idleRss.get(control.name) ?? []),
            loadedBytes: loaded,
            loadedRatio: loaded / (loadedRss.get(control.name) ?? Number.NaN),
          },
        ];
      }),
    ),
    sameAnswers: Object.fromEntries(
      [...answers].map(([name, byReview]) => [name, Object.fromEntries(byReview)]),
    ),
    reconcile,
    skipped,
    seconds: (performance.now() - began) / 1000,
  };
  const markdown = renderMarkdown(results);
  process.stdout.write(`${markdown}\n`);
  await mkdir(flags.out, { recursive: true });
  await writeFile(join(flags.out, "latest.json"), `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(join(flags.out, "latest.md"), `${markdown}\n`);
  if (!flags["no-readme"] && !flags.quick) await updateReadme(markdown);
  say(`wrote ${join(flags.out, "latest.json")} and latest.md`);
} finally {
  for (const server of running.values()) await server.stop();
  await rm(work, { recursive: true, force: true });
}

/** The README's figures are latest.md between two markers, so they never drift from a real run. */
async function updateReadme(markdown: string): Promise<void> {
  const path = join(REPO, "README.md");
  const text = await readFile(path, "utf8");
  const start = "<!-- bench:start -->";
  const end = "<!-- bench:end -->";
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from === -1 || to < from) {
    say("README.md has no bench markers; left unchanged");
    return;
  }
  await writeFile(path, `${text.slice(0, from + start.length)}\n${markdown}\n${text.slice(to)}`);
}
