// npm run soak [-- --minutes 10 --ops-per-second 8 --names 40]
//
// Soak: two prepull replicas (the real server, admission and reconciler, behind a loopback
// balancer, registered as the webhook for one namespace) under a steady mix of create, image
// change, scale, un-annotate, re-annotate and delete for --minutes. Samples each replica's RSS,
// heap, open handles and event-loop lag p99, and reports the slope per minute after a warm-up.
// At the end: the exact state (DaemonSet images and every workload's status), no replica exited,
// and from the apiserver's audit log one writer at a time. Exit 1 if any of those fails.
// Uses (or starts) the local plane and leaves it up; writes .prepull/soak/<time>.json.
import { parseArgs } from "node:util";
import { upPlane } from "./cluster/plane.ts";
import { progress } from "./cluster/progress.ts";
import { runSoak } from "./soak/run.ts";

const USAGE = "usage: npm run soak -- [--minutes N] [--ops-per-second N] [--names N] [--sample-seconds N]";

function positive(flag: string, value: string | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > max)
    throw new Error(`--${flag} must be a number in (0, ${max}], got "${value}"`);
  return n;
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      minutes: { type: "string" },
      "ops-per-second": { type: "string" },
      names: { type: "string" },
      "sample-seconds": { type: "string" },
      help: { type: "boolean" },
    },
  });
  if (values.help) {
    console.error(USAGE);
    return 0;
  }
  const minutes = positive("minutes", values.minutes, 10, 24 * 60);
  const opsPerSecond = positive("ops-per-second", values["ops-per-second"], 8, 100);
  const names = Math.round(positive("names", values.names, 40, 1000));
  const sampleSeconds = positive("sample-seconds", values["sample-seconds"], 10, 600);
  const log = progress("soak");

  const plane = await upPlane({ log });
  try {
    const result = await runSoak({ minutes, opsPerSecond, names, sampleSeconds, paths: plane.paths, log });
    for (const [identity, t] of Object.entries(result.trends)) {
      const [rss, heap, handles, lag] = [
        t.rssBytes,
        t.heapUsedBytes,
        t.activeHandles,
        t.eventLoopLagP99Seconds,
      ];
      if (!(rss && heap && handles && lag)) continue;
      log(
        `${identity}: RSS ${mib(rss.first)}→${mib(rss.last)} MiB (${mib(rss.perMinute, 2)} MiB/min), ` +
          `heap ${mib(heap.first)}→${mib(heap.last)} MiB (${mib(heap.perMinute, 2)} MiB/min), ` +
          `handles ${handles.first}→${handles.last} (${handles.perMinute.toFixed(2)}/min), ` +
          `lag p99 ${ms(lag.first)}→${ms(lag.last)} ms (max ${ms(lag.max)}, ${ms(lag.perMinute, 3)} ms/min)`,
      );
    }
    log(
      `writes by replica ${JSON.stringify(result.writesByReplica)}; writes without the lease: ${result.writesWithoutLease}`,
    );
    log(`report: ${result.file}`);
    return result.crashed.length > 0 || result.writesWithoutLease > 0 ? 1 : 0;
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    return 1;
  }
}

const mib = (bytes: number, digits = 0) => (bytes / 1024 / 1024).toFixed(digits);
const ms = (seconds: number, digits = 1) => (seconds * 1000).toFixed(digits);

process.exitCode = await main(process.argv.slice(2));
