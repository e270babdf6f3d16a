// Registers the demo's prepull with the apiserver exactly as the chart would (the settings come
// from charts/prepull/files/webhook.json through webhookConfigurationFor), with a loopback URL in
// place of the in-cluster Service, and waits until the apiserver calls it.
import {
  type AdmissionregistrationV1Api,
  type AppsV1Api,
  type CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import { sumOf } from "../../test/e2e/support/metrics.ts";
import { webhookConfigurationFor } from "../../test/support/webhook-configuration.ts";
import { isApiStatus } from "../cluster/kube-client.ts";
import { get, waitUntil } from "../cluster/probe.ts";
import type { Progress } from "../cluster/progress.ts";
import type { DemoPrepull } from "./prepull-process.ts";
import { DEMO_NAMESPACE, exampleDeployment, RELEASE_NAMESPACE } from "./workloads.ts";

const WEBHOOK_NAME = "prepull-demo";

export async function ensureNamespace(core: CoreV1Api, name: string): Promise<void> {
  try {
    await core.createNamespace({ body: { metadata: { name } } });
  } catch (error) {
    if (!isApiStatus(error, 409)) throw error;
  }
}

async function admissionRequests(prepull: DemoPrepull, filter: Record<string, string> = {}): Promise<number> {
  return sumOf(await metricsText(prepull), "prepull_admission_requests_total", filter);
}

export async function metricsText(prepull: DemoPrepull): Promise<string> {
  const response = await get(prepull.metricsUrl, prepull.tls);
  if (response.status !== 200) throw new Error(`prepull /metrics answered ${response.status}`);
  return response.body;
}

export async function registerDemoWebhook(
  clients: { core: CoreV1Api; apps: AppsV1Api; admission: AdmissionregistrationV1Api },
  prepull: DemoPrepull,
  log: Progress,
): Promise<void> {
  await ensureNamespace(clients.core, RELEASE_NAMESPACE);
  await ensureNamespace(clients.core, DEMO_NAMESPACE);
  const body = webhookConfigurationFor({
    name: WEBHOOK_NAME,
    endpoint: { baseUrl: prepull.baseUrl, caBundle: prepull.caBundle },
    releaseNamespace: RELEASE_NAMESPACE,
  });
  // Server-side apply: creates it, or updates the URL and CA of an earlier demo run's.
  await clients.admission.patchMutatingWebhookConfiguration(
    { name: WEBHOOK_NAME, body, fieldManager: "prepull-demo", force: true },
    setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply),
  );
  const before = await admissionRequests(prepull);
  const probe = exampleDeployment({ name: "webhook-probe", image: "nginx:1.27", optedIn: true, replicas: 1 });
  await waitUntil(
    async () => {
      await clients.apps.createNamespacedDeployment({
        namespace: DEMO_NAMESPACE,
        body: probe,
        dryRun: "All",
      });
      return (await admissionRequests(prepull)) > before ? true : undefined;
    },
    { what: "the apiserver to call the newly registered webhook", timeoutMs: 30_000, intervalMs: 200 },
  );
  log(`webhook ${WEBHOOK_NAME} registered: the apiserver calls ${prepull.baseUrl}/mutate`);
}
