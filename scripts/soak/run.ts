// One soak against a running plane: two prepull replicas (the real server, admission and
// reconciler, behind a loopback balancer that alternates connections as a Service does),
// registered as the webhook for one fresh namespace, under a steady churn of create, image
// change, scale, un-annotate, re-annotate and delete. Samples each replica's RSS, heap, open
// handles and event-loop lag p99; at the end waits for the exact state and reads the audit log
// for writes by a replica that did not hold the Lease. `npm run soak` and the short soak in the
// e2e suite both run this.
import { randomBytes } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { AdmissionregistrationV1Api, CoreV1Api } from "@kubernetes/client-node";
import { createKubeRest } from "../../src/kube/rest.ts";
import { DEFAULT_TIMINGS } from "../../src/reconcile/settings.ts";
import { webhookConfigurationFor, webhookSettings } from "../../test/support/webhook-configuration.ts";
import { auditLogPath } from "../cluster/components.ts";
import { adminClients, unlessGone } from "../cluster/kube-client.ts";
import { type ClusterPaths, REPO_ROOT } from "../cluster/paths.ts";
import type { Progress } from "../cluster/progress.ts";
import { readAuditLog, writesBy, writesWithoutLease } from "../faults/audit.ts";
import { Churn, type ChurnReport, churnImagePrefix } from "../faults/churn.ts";
import { waitConverged } from "../faults/converge.ts";
import { startSoakReplicas } from "./replicas.ts";
import { type Sample, sampleOf, type Trend, trends } from "./sampler.ts";

export interface SoakOptions {
  minutes: number;
  opsPerSecond: number;
  /** Deployment names the churn cycles through. */
  names: number;
  sampleSeconds: number;
  /** The running plane. */
  paths: ClusterPaths;
  log: Progress;
}

export interface SoakResult {
  minutes: number;
  opsPerSecond: number;
  names: number;
  churn: ChurnReport;
  convergeMs: number;
  workloads: number;
  /** Replicas that exited before the end. */
  crashed: string[];
  /** Writes (audit log) by a replica while another held the Lease. */
  writesWithoutLease: number;
  writesByReplica: Record<string, number>;
  warmupMinutes: number;
  trends: Record<string, Record<string, Trend>>;
  samples: Record<string, Sample[]>;
  /** Where the result was written (.prepull/soak/<time>.json). */
  file: string;
}

/** Runs one soak; throws when a replica exits during the churn or the state does not converge. */
export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const { minutes, opsPerSecond, names, sampleSeconds, paths, log } = options;
  const clients = adminClients(paths.kubeconfig);
  const core = clients.kubeConfig.makeApiClient(CoreV1Api);
  const admission = clients.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  const suffix = randomBytes(3).toString("hex");
  const releaseNamespace = `soak-release-${suffix}`;
  const namespace = `soak-${suffix}`;
  for (const name of [releaseNamespace, namespace])
    await core.createNamespace({ body: { metadata: { name } } });
  const identities = [`${releaseNamespace}-a`, `${releaseNamespace}-b`];
  const prepull = await startSoakReplicas(paths, releaseNamespace, identities, paths.logs);
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
    const events = await readAuditLog(auditLogPath(paths));
    // src/main.ts takes `<POD_NAME>_<pid>` as its Lease identity.
    const foreign = writesWithoutLease(events, lease, new Set(identities), (holder, user) =>
      holder.startsWith(`${user}_`),
    ).filter(({ event }) => event.receivedMs >= started);
    const warmup = Math.min(2, minutes / 5);
    const dir = join(REPO_ROOT, ".prepull", "soak");
    await mkdir(dir, { recursive: true });
    const file = join(dir, `${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
    const result: SoakResult = {
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
      file,
    };
    await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
    return result;
  } finally {
    // Already stopped on the way out unless something failed first; its own error then is secondary.
    await churn.stop().catch((error: unknown) => log(`churn: ${(error as Error).message}`));
    await admission.deleteMutatingWebhookConfiguration({ name: `prepull-soak-${suffix}` }).catch(unlessGone);
    await prepull.stop();
    for (const name of [namespace, releaseNamespace]) await core.deleteNamespace({ name }).catch(unlessGone);
    await rm(join(paths.root, "soak", releaseNamespace), { recursive: true, force: true });
  }
}
