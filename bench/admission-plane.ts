// What prepull costs a deploy on the real control plane: `POST deployments` latency through the
// real kube-apiserver with prepull's webhook registered (the chart's two entries, from
// charts/prepull/files/webhook.json) ÷ the same creates in a namespace the webhook does not
// select, and the webhook calls prepull counted for workloads that are not opted in (must be 0:
// matchConditions keep the apiserver from calling). The real server (src/main.ts, admission and
// reconciler) runs on loopback. Within a round the three cases' creates are interleaved request
// by request, so each meets the same load; the figures are the median over rounds of each
// round's p50 and p99.
//
//   node bench/admission-plane.ts [--rounds 3] [--creates 100] [--concurrency 4]
//
// Needs the local plane (`npm run cluster:up`); prints one line per case and a JSON summary.
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import {
  AdmissionregistrationV1Api,
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  type V1Deployment,
} from "@kubernetes/client-node";
import { unlessGone } from "../scripts/cluster/kube-client.ts";
import { clusterPaths } from "../scripts/cluster/paths.ts";
import { startSoakReplicas } from "../scripts/soak/replicas.ts";
import { webhookConfigurationFor, webhookSettings } from "../test/support/webhook-configuration.ts";
import { percentile } from "./reconcile-harness.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    creates: { type: "string", default: "100" },
    concurrency: { type: "string", default: "4" },
  },
});
function count(name: string, raw: string, max: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new Error(`--${name} must be an integer from 1 to ${max}, got "${raw}"`);
  return n;
}
const rounds = count("rounds", values.rounds, 20);
const creates = count("creates", values.creates, 2000);
const concurrency = count("concurrency", values.concurrency, 32);

type Case = "without webhook" | "with webhook, opted in" | "with webhook, not opted in";
const CASES: readonly Case[] = ["without webhook", "with webhook, opted in", "with webhook, not opted in"];

const paths = clusterPaths();
const kubeConfig = new KubeConfig();
kubeConfig.loadFromFile(paths.kubeconfig);
const core = kubeConfig.makeApiClient(CoreV1Api);
const apps = kubeConfig.makeApiClient(AppsV1Api);
const admission = kubeConfig.makeApiClient(AdmissionregistrationV1Api);
const suffix = randomBytes(3).toString("hex");
const release = `bench-adm-release-${suffix}`;
const selected = `bench-adm-with-${suffix}`;
const unselected = `bench-adm-without-${suffix}`;
const configName = `prepull-bench-${suffix}`;
for (const name of [release, selected, unselected])
  await core.createNamespace({ body: { metadata: { name } } });

const prepull = await startSoakReplicas(paths, release, [`${release}-a`], paths.logs);
const replica = prepull.replicas[0];
if (replica === undefined) throw new Error("no prepull replica started");

/**
 * Deployment CREATE calls prepull has answered so far (its own counter). UPDATEs are left out:
 * the reconciler's status patches on earlier workloads are UPDATEs the apiserver also sends.
 */
async function deploymentCalls(): Promise<number> {
  let total = 0;
  for (const line of (await replica?.metrics())?.split("\n") ?? []) {
    if (
      line.startsWith("prepull_admission_requests_total{") &&
      line.includes('kind="Deployment"') &&
      line.includes('operation="CREATE"')
    )
      total += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return total;
}

function deployment(name: string, optedIn: boolean): V1Deployment {
  return {
    metadata: { name, ...(optedIn ? { annotations: { prepull: "true" } } : {}) },
    spec: {
      replicas: 0,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: "main", image: `registry.example.com/bench/${suffix}/${name}:1` }] },
      },
    },
  };
}

/** Where a case's Deployments go, and whether they opt in. */
function target(which: Case): { namespace: string; optedIn: boolean } {
  if (which === "without webhook") return { namespace: unselected, optedIn: true };
  return { namespace: selected, optedIn: which === "with webhook, opted in" };
}

/**
 * `creates` creates of each case, interleaved request by request (case 1, 2, 3, 1, 2, 3, ...)
 * and `concurrency` at a time, so every case meets the same apiserver load; the latencies of
 * each case, sorted, in ms.
 */
async function createInterleaved(round: number): Promise<Record<Case, number[]>> {
  const latencies = Object.fromEntries(CASES.map((c) => [c, [] as number[]])) as Record<Case, number[]>;
  const total = creates * CASES.length;
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < total; i = next++) {
        // The rotation starts at a different case each round.
        const which = CASES[(i + round) % CASES.length] as Case;
        const { namespace, optedIn } = target(which);
        const started = performance.now();
        await apps.createNamespacedDeployment({ namespace, body: deployment(`r${round}-${i}`, optedIn) });
        latencies[which].push(performance.now() - started);
      }
    }),
  );
  for (const c of CASES) latencies[c].sort((x, y) => x - y);
  return latencies;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? Number.NaN;

try {
  const webhook = webhookConfigurationFor({
    name: configName,
    endpoint: { baseUrl: replica.baseUrl, caBundle: prepull.caBundle },
    releaseNamespace: release,
  });
  // Only the selected namespace: the rest of the plane never meets this webhook.
  for (const entry of webhook.webhooks ?? [])
    entry.namespaceSelector?.matchExpressions?.push({
      key: webhookSettings.namespaceSelectorKey,
      operator: "In",
      values: [selected],
    });
  await admission.createMutatingWebhookConfiguration({ body: webhook });
  // Registered once prepull has answered for one opted-in create (the apiserver's webhook cache).
  for (let i = 0; (await deploymentCalls()) === 0; i++) {
    if (i > 200) throw new Error("the apiserver never called prepull for an opted-in create");
    await apps.createNamespacedDeployment({ namespace: selected, body: deployment(`probe-${i}`, true) });
  }

  const p50: Record<Case, number[]> = Object.fromEntries(CASES.map((c) => [c, []])) as never;
  const p99: Record<Case, number[]> = Object.fromEntries(CASES.map((c) => [c, []])) as never;
  let createCalls = 0;
  for (let round = 0; round < rounds; round++) {
    const before = await deploymentCalls();
    const latencies = await createInterleaved(round);
    createCalls += (await deploymentCalls()) - before;
    for (const c of CASES) {
      p50[c].push(percentile(latencies[c], 50));
      p99[c].push(percentile(latencies[c], 99));
    }
  }
  const optedIn = rounds * creates;
  const base = { p50: median(p50["without webhook"]), p99: median(p99["without webhook"]) };
  const cases = Object.fromEntries(
    CASES.map((c) => [
      c,
      {
        p50Ms: Number(median(p50[c]).toFixed(1)),
        p99Ms: Number(median(p99[c]).toFixed(1)),
        p50Ratio: Number((median(p50[c]) / base.p50).toFixed(2)),
        p99Ratio: Number((median(p99[c]) / base.p99).toFixed(2)),
      },
    ]),
  ) as Record<Case, { p50Ms: number; p99Ms: number; p50Ratio: number; p99Ratio: number }>;
  for (const c of CASES) {
    const s = cases[c];
    console.log(
      `POST deployments, ${c}: p50 ${s.p50Ms} ms (×${s.p50Ratio}), p99 ${s.p99Ms} ms (×${s.p99Ratio})`,
    );
  }
  // Only the opted-in creates in the selected namespace may reach prepull; any CREATE it counted
  // beyond those was for a workload that is out (not opted in, or in a namespace not selected).
  const callsForOut = createCalls - optedIn;
  console.log(
    `webhook CREATE calls prepull answered: ${createCalls} for ${optedIn} opted-in creates and ${2 * optedIn} that are out (calls for those: ${callsForOut})`,
  );
  console.log(JSON.stringify({ rounds, creates, concurrency, cases, createCalls, optedIn, callsForOut }));
  if (callsForOut !== 0) {
    console.error(
      callsForOut > 0
        ? "prepull was called for workloads that are out"
        : "prepull missed calls for opted-in workloads",
    );
    process.exitCode = 1;
  }
} finally {
  await admission.deleteMutatingWebhookConfiguration({ name: configName }).catch(unlessGone);
  await prepull.stop();
  for (const name of [selected, unselected, release]) await core.deleteNamespace({ name }).catch(unlessGone);
}
