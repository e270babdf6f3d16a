// npm run soak [-- --minutes 10 --ops-per-second 8 --names 40]
//
// Soak: two prepull replicas (the real server, admission and reconciler, behind a loopback
// balancer, registered as the webhook for one namespace) under a steady mix of create, image
// change, scale, un-annotate, re-annotate and delete for --minutes. Samples each replica's RSS,
// heap, open handles and event-loop lag p99, and reports the slope per minute after a warm-up.
// At the end: the exact state (DaemonSet images and every workload's status), no replica exited,
// and from the apiserver's audit log one writer at a time. Exit 1 if any of those fails.
// Uses (or starts) the local plane and leaves it up; writes .prepull/soak/<time>.json.
import { randomBytes } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { AdmissionregistrationV1Api, CoreV1Api } from "@kubernetes/client-node";
import { createKubeRest } from "../src/kube/rest.ts";
import { DEFAULT_TIMINGS } from "../src/reconcile/settings.ts";
import { webhookConfigurationFor, webhookSettings } from "../test/support/webhook-configuration.ts";
import { auditLogPath } from "./cluster/components.ts";
import { adminClients, isApiStatus } from "./cluster/kube-client.ts";
import { REPO_ROOT } from "./cluster/paths.ts";
import { upPlane } from "./cluster/plane.ts";
import { progress } from "./cluster/progress.ts";
import { readAuditLog, writesBy, writesWithoutLease } from "./faults/audit.ts";
import { Churn, churnImagePrefix } from "./faults/churn.ts";
import { waitConverged } from "./faults/converge.ts";
import { startSoakReplicas } from "./soak/replicas.ts";
import { type Sample, sampleOf, trends } from "./soak/sampler.ts";

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
  const clients = adminClients(plane.kubeconfig);
  const core = clients.kubeConfig.makeApiClient(CoreV1Api);
  const admission = clients.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  const suffix = randomBytes(3).toString("hex");
  const releaseNamespace = `soak-release-${suffix}`;
  const namespace = `soak-${suffix}`;
  for (const name of [releaseNamespace, namespace])
    await core.createNamespace({ body: { metadata: { name } } });
  const identities = [`${releaseNamespace}-a`, `${releaseNamespace}-b`];
  const prepull = await startSoakReplicas(plane.paths, releaseNamespace, identities, plane.paths.logs);
  log(
    `replicas ${identities.join(", ")} (pids ${prepull.replicas.map((r) => r.pid).join(", ")}) behind ${prepull.baseUrl}`,
  );

  const webhook = webhookConfigurationFor({
    name: `prepull-soak-${suffix}`,
    endpoint: { baseUrl: prepull.baseUrl, caBundle: prepull.caBundle },
    releaseNamespace,
  });
  // Only the soak's namespace: other users of the plane must not meet this webhook.
  webhook.webhooks?.[0]?.namespaceSelector?.matchExpressions?.push({
    key: webhookSettings.namespaceSelectorKey,
    operator: "In",
    values: [namespace],
  });
  await admission.createMutatingWebhookConfiguration({ body: webhook });

  const started = Date.now();
  const churn = new Churn({
    kubeConfig: clients.kubeConfig,
    namespace,
    names,
    opsPerSecond,
    seed: Date.now(),
  });
  const samples: Record<string, Sample[]> = Object.fromEntries(identities.map((i) => [i, []]));
  let exitCode = 0;
  try {
    churn.start();
    log(`churn: ${opsPerSecond} ops/s over ${names} Deployments in ${namespace} for ${minutes} min`);
    const end = performance.now() + minutes * 60_000;
    const t0 = performance.now();
    while (performance.now() < end) {
      const at = (performance.now() - t0) / 60_000;
      for (const replica of prepull.replicas) {
        if (replica.hasExited()) throw new Error(`${replica.identity} exited during the soak`);
        samples[replica.identity]?.push(sampleOf(at, await replica.metrics()));
      }
      const done = Object.values(churn.report().done).reduce((a, b) => a + b, 0);
      log(`${at.toFixed(1)} min: ${done} operations`);
      await sleep(Math.min(sampleSeconds * 1000, Math.max(0, end - performance.now())));
    }
    const report = await churn.stop();
    log(`churn stopped: ${JSON.stringify(report)}`);
    const converged = await waitConverged(
      createKubeRest(clients.kubeConfig),
      { namespace, releaseNamespace, imagePrefix: churnImagePrefix(namespace) },
      300_000,
    );
    log(
      `converged ${converged.ms} ms after the churn stopped: ${converged.state.workloads.length} workloads`,
    );
    const crashed = prepull.replicas.filter((r) => r.hasExited()).map((r) => r.identity);
    const lease = { namespace: releaseNamespace, name: DEFAULT_TIMINGS.leaseName };
    // The whole log: who held the Lease when the churn started was decided before.
    const events = await readAuditLog(auditLogPath(plane.paths));
    // src/main.ts takes `<POD_NAME>_<pid>` as its Lease identity.
    const foreign = writesWithoutLease(events, lease, new Set(identities), (holder, user) =>
      holder.startsWith(`${user}_`),
    ).filter(({ event }) => event.receivedMs >= started);
    const warmup = Math.min(2, minutes / 5);
    const result = {
      minutes,
      opsPerSecond,
      names,
      churn: report,
      convergeMs: converged.ms,
      workloads: converged.state.workloads.length,
      crashed,
      writesWithoutLease: foreign.length,
      writesByReplica: writesBy(events, lease, identities),
      warmupMinutes: warmup,
      trends: Object.fromEntries(identities.map((i) => [i, trends(samples[i] ?? [], warmup)])),
      samples,
    };
    const dir = join(REPO_ROOT, ".prepull", "soak");
    await mkdir(dir, { recursive: true });
    const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
    await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
    for (const identity of identities) {
      const t = result.trends[identity];
      if (t === undefined) continue;
      log(
        `${identity}: RSS ${mib(t.rssBytes.first)}→${mib(t.rssBytes.last)} MiB (${mib(t.rssBytes.perMinute, 2)} MiB/min), ` +
          `heap ${mib(t.heapUsedBytes.first)}→${mib(t.heapUsedBytes.last)} MiB (${mib(t.heapUsedBytes.perMinute, 2)} MiB/min), ` +
          `handles ${t.activeHandles.first}→${t.activeHandles.last} (${t.activeHandles.perMinute.toFixed(2)}/min), ` +
          `lag p99 ${ms(t.eventLoopLagP99Seconds.first)}→${ms(t.eventLoopLagP99Seconds.last)} ms (max ${ms(t.eventLoopLagP99Seconds.max)}, ${ms(t.eventLoopLagP99Seconds.perMinute, 3)} ms/min)`,
      );
    }
    log(
      `writes by replica ${JSON.stringify(result.writesByReplica)}; writes without the lease: ${foreign.length}`,
    );
    log(`report: ${file}`);
    if (crashed.length > 0 || foreign.length > 0) exitCode = 1;
  } catch (error) {
    await churn.stop();
    console.error(error instanceof Error ? error.message : String(error));
    exitCode = 1;
  } finally {
    await admission.deleteMutatingWebhookConfiguration({ name: `prepull-soak-${suffix}` }).catch(unlessGone);
    await prepull.stop();
    for (const name of [namespace, releaseNamespace]) await core.deleteNamespace({ name }).catch(unlessGone);
    await rm(join(plane.paths.root, "soak", releaseNamespace), { recursive: true, force: true });
  }
  return exitCode;
}

/** Cleanup of something already gone is done. */
function unlessGone(error: unknown): void {
  if (!isApiStatus(error, 404)) throw error;
}

const mib = (bytes: number, digits = 0) => (bytes / 1024 / 1024).toFixed(digits);
const ms = (seconds: number, digits = 1) => (seconds * 1000).toFixed(digits);

process.exitCode = await main(process.argv.slice(2));
