// The MutatingWebhookConfiguration prepull is registered with, built from
// charts/prepull/files/webhook.json — the one source of truth the chart's template also reads.
// Pure: the e2e tests register what this returns, and the chart tests compare the rendered
// template against it, so the tests exercise exactly the settings the chart ships.
import type {
  AdmissionregistrationV1WebhookClientConfig,
  V1MutatingWebhookConfiguration,
} from "@kubernetes/client-node";
import settings from "../../charts/prepull/files/webhook.json" with { type: "json" };

export const webhookSettings = settings;

/** Where the apiserver reaches prepull: a URL (tests on loopback) or an in-cluster Service (the chart). */
export type WebhookEndpoint =
  | { baseUrl: string; caBundle: string }
  | { service: { namespace: string; name: string; port?: number }; caBundle?: string };

export interface WebhookConfigurationRequest {
  name: string;
  endpoint: WebhookEndpoint;
  /** prepull's own namespace: never sent to the webhook (its DaemonSets and itself live there). */
  releaseNamespace: string;
  extraExcludedNamespaces?: readonly string[];
}

/** The namespaces the webhook never sees: the always-excluded ones, the release's, the user's. */
export function excludedNamespaces(releaseNamespace: string, extra: readonly string[] = []): string[] {
  return [...new Set([...settings.alwaysExcludedNamespaces, releaseNamespace, ...extra])];
}

function clientConfigFor(endpoint: WebhookEndpoint): AdmissionregistrationV1WebhookClientConfig {
  if ("baseUrl" in endpoint) {
    return { url: `${endpoint.baseUrl.replace(/\/+$/, "")}${settings.path}`, caBundle: endpoint.caBundle };
  }
  return {
    service: { ...endpoint.service, path: settings.path },
    ...(endpoint.caBundle === undefined ? {} : { caBundle: endpoint.caBundle }),
  };
}

export function webhookConfigurationFor(
  request: WebhookConfigurationRequest,
): V1MutatingWebhookConfiguration {
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "MutatingWebhookConfiguration",
    metadata: { name: request.name },
    webhooks: [
      {
        ...structuredClone(settings.webhook),
        clientConfig: clientConfigFor(request.endpoint),
        namespaceSelector: {
          matchExpressions: [
            {
              key: settings.namespaceSelectorKey,
              operator: "NotIn",
              values: excludedNamespaces(request.releaseNamespace, request.extraExcludedNamespaces),
            },
          ],
        },
      },
    ],
  };
}
