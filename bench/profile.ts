// `npm run bench:profile`: where an admission's CPU goes. prepull and the bare control each run
// under `node --cpu-prof` while bench/loadgen drives the 8 KB CREATE review at saturation; the
// profiles are split into phases (bench/profile/phases.ts) and shown as CPU µs per request.
// The profiler slows both servers, so compare phases with each other, not with `npm run bench`.
//
//   npm run bench:profile -- [--seconds=8] [--keep]   (--keep leaves the .cpuprofile files)
import { mkdtempSync } from "node:fs";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { type CpuProfile, phaseTimes } from "./profile/phases.ts";
import { benchReview } from "./reviews.ts";
import { controlSpec, prepullSpec } from "./servers.ts";
import { benchCertificates } from "./support/certs.ts";
import { buildGo } from "./support/go-build.ts";
import { runLoad } from "./support/loadgen.ts";
import { type ServerSpec, startServer } from "./support/servers.ts";

const REPO = resolve(import.meta.dirname, "..");
const { values: flags } = parseArgs({
  options: { seconds: { type: "string", default: "8" }, keep: { type: "boolean", default: false } },
});
const seconds = Number(flags.seconds);
const work = mkdtempSync(join(tmpdir(), "prepull-profile-"));
const certs = await benchCertificates(work);
// Logs apart from the certificate directory, which prepull watches for rotation.
const logs = join(work, "logs");
await mkdir(logs, { recursive: true });
const loadgen = await buildGo(join(REPO, "bench", "loadgen"), "loadgen");
const review = benchReview("CREATE", 8 * 1024);
const bodyFile = join(work, "review.json");
await writeFile(bodyFile, review.body);

async function profile(
  spec: ServerSpec,
): Promise<{ perRequest: Map<string, number>; busy: number; rps: number }> {
  const dir = join(work, spec.name.replaceAll(" ", "-"));
  const profiled = { ...spec, args: ["--cpu-prof", `--cpu-prof-dir=${dir}`, ...spec.args] };
  const server = await startServer(profiled, certs.caPem);
  const load = await runLoad(loadgen, {
    url: server.mutateUrl,
    caFile: certs.caFile,
    bodyFile,
    mode: "closed",
    connections: 8,
    seconds,
    warmupSeconds: 0,
    maxRequests: 1_000_000,
  });
  await server.stop();
  const [file] = await readdir(dir);
  if (file === undefined) throw new Error(`${spec.name} wrote no profile`);
  const times = phaseTimes(JSON.parse(await readFile(join(dir, file), "utf8")) as CpuProfile);
  if (flags.keep) process.stderr.write(`profile of ${spec.name}: ${join(dir, file)}\n`);
  const perRequest = new Map([...times.micros].map(([phase, micros]) => [phase, micros / load.requests]));
  return { perRequest, busy: times.busyMicros / load.requests, rps: load.rps };
}

const control = await profile(controlSpec(REPO, certs, join(logs, "control.log"), "https"));
const prepull = await profile(prepullSpec(REPO, certs, join(logs, "prepull.log")));
const phases = [...new Set([...prepull.perRequest.keys(), ...control.perRequest.keys()])]
  .filter((phase) => phase !== "idle" && phase !== "start-up (module loading)")
  .sort((a, b) => (prepull.perRequest.get(b) ?? 0) - (prepull.perRequest.get(a) ?? 0));
const cell = (value: number | undefined) => (value ?? 0).toFixed(1);
const lines = [
  `CPU µs per request under --cpu-prof, ${review.id} (${Buffer.byteLength(review.body)} bytes), ${seconds} s closed loop, 8 connections`,
  "",
  "| phase | prepull | bare fastify |",
  "| --- | ---: | ---: |",
  ...phases.map(
    (phase) =>
      `| ${phase} | ${cell(prepull.perRequest.get(phase))} | ${cell(control.perRequest.get(phase))} |`,
  ),
  `| **busy total** | **${cell(prepull.busy)}** | **${cell(control.busy)}** |`,
  `| req/s while profiled | ${Math.round(prepull.rps)} | ${Math.round(control.rps)} |`,
];
process.stdout.write(`${lines.join("\n")}\n`);
if (!flags.keep) await rm(work, { recursive: true, force: true });
