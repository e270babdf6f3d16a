// Registers a running prepull (or the fixture capture server) with the apiserver through a
// MutatingWebhookConfiguration built by webhookConfigurationFor (the chart's settings), pointing at
// its loopback URL with the test CA, and waits until the apiserver actually calls it.
import { randomBytes } from "node:crypto";
import type { V1MutatingWebhookConfiguration } from "@kubernetes/client-node";
import { vi } from "vitest";
import { isApiStatus } from "../../../scripts/cluster/kube-client.ts";
import { webhookConfigurationFor, webhookSettings } from "../../support/webhook-configuration.ts";
import { adminClients } from "./cluster.ts";
import { deployment } from "./workloads.ts";

/** What the apiserver is pointed at: prepull (startPrepull) or the fixture capture server. */
interface WebhookTarget {
  /** https://127.0.0.1:<port>, without the webhook path. */
  baseUrl: string;
  caBundle: string;
  /** The release namespace, which the chart's selector excludes. */
  namespace: string;
  /** How many AdmissionReviews the target has answered so far. */
  admissionRequests(): Promise<number>;
}

export interface WebhookRegistrationOptions {
  target: WebhookTarget;
  /**
   * A namespace the webhook applies to, used to prove it is in effect (a dry-run create of an
   * opted-in Deployment there must reach the target) before this returns.
   */
  probeNamespace: string;
  /**
   * Test isolation only: also require the namespace to be one of these, so this webhook never
   * touches objects of other tests sharing the plane. The chart's own selector is kept unchanged.
   */
  onlyNamespaces?: readonly string[];
  extraExcludedNamespaces?: readonly string[];
  /** webhook.clusterDefault: the namespace entry selects every namespace not excluded. */
  clusterDefault?: boolean;
}

export interface WebhookRegistration {
  name: string;
  configuration: V1MutatingWebhookConfiguration;
  remove(): Promise<void>;
}

function testWebhookConfiguration(
  options: WebhookRegistrationOptions,
  name: string,
): V1MutatingWebhookConfiguration {
  const configuration = webhookConfigurationFor({
    name,
    endpoint: { baseUrl: options.target.baseUrl, caBundle: options.target.caBundle },
    releaseNamespace: options.target.namespace,
    extraExcludedNamespaces: options.extraExcludedNamespaces,
    ...(options.clusterDefault === undefined ? {} : { clusterDefault: options.clusterDefault }),
  });
  for (const webhook of configuration.webhooks ?? []) {
    if (options.onlyNamespaces && webhook.namespaceSelector?.matchExpressions) {
      webhook.namespaceSelector.matchExpressions.push({
        key: webhookSettings.namespaceSelectorKey,
        operator: "In",
        values: [...options.onlyNamespaces],
      });
    }
  }
  return configuration;
}

export async function registerWebhook(options: WebhookRegistrationOptions): Promise<WebhookRegistration> {
  const { admission, apps } = adminClients();
  const name = `prepull-e2e-${randomBytes(4).toString("hex")}`;
  const configuration = testWebhookConfiguration(options, name);
  await admission.createMutatingWebhookConfiguration({ body: configuration });
  const remove = async () => {
    try {
      await admission.deleteMutatingWebhookConfiguration({ name });
    } catch (error) {
      if (!isApiStatus(error, 404)) throw error;
    }
  };

  // The apiserver learns about webhook configurations through a watch: poll until a dry-run
  // create (no trace left) of an opted-in Deployment is seen by the target.
  try {
    const before = await options.target.admissionRequests();
    await vi.waitFor(
      async () => {
        await apps.createNamespacedDeployment({
          namespace: options.probeNamespace,
          body: deployment({ name: "webhook-probe", optedIn: true }),
          dryRun: "All",
        });
        const after = await options.target.admissionRequests();
        if (after <= before) throw new Error(`the apiserver has not called webhook ${name} yet`);
      },
      { timeout: 30_000, interval: 200 },
    );
  } catch (error) {
    await remove();
    throw error;
  }
  return { name, configuration, remove };
}
