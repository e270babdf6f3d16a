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
type WebhookEndpoint =
  | { baseUrl: string; caBundle: string }
  | { service: { namespace: string; name: string; port?: number }; caBundle?: string };

export interface WebhookConfigurationRequest {
  name: string;
  endpoint: WebhookEndpoint;
  /** prepull's own namespace: never sent to the webhook (its DaemonSets and itself live there). */
  releaseNamespace: string;
  extraExcludedNamespaces?: readonly string[];
  /** webhook.clusterDefault: the namespace entry selects every namespace not excluded. */
  clusterDefault?: boolean;
}

/** The namespaces the webhook never sees: the always-excluded ones, the release's, the user's. */
function excludedNamespaces(releaseNamespace: string, extra: readonly string[] = []): string[] {
  return [...new Set([...settings.alwaysExcludedNamespaces, releaseNamespace, ...extra])];
}

function clientConfigFor(
  endpoint: WebhookEndpoint,
  path: string,
): AdmissionregistrationV1WebhookClientConfig {
  if ("baseUrl" in endpoint) {
    return { url: `${endpoint.baseUrl.replace(/\/+$/, "")}${path}`, caBundle: endpoint.caBundle };
  }
  return {
    service: { ...endpoint.service, path },
    ...(endpoint.caBundle === undefined ? {} : { caBundle: endpoint.caBundle }),
  };
}

export function webhookConfigurationFor(
  request: WebhookConfigurationRequest,
): V1MutatingWebhookConfiguration {
  const notExcluded = {
    key: settings.namespaceSelectorKey,
    operator: "NotIn",
    values: excludedNamespaces(request.releaseNamespace, request.extraExcludedNamespaces),
  };
  const optInLabel = { key: settings.namespaceOptInLabel, operator: "In", values: ["true"] };
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "MutatingWebhookConfiguration",
    metadata: { name: request.name },
    webhooks: [
      {
        ...structuredClone(settings.webhook),
        clientConfig: clientConfigFor(request.endpoint, settings.path),
        namespaceSelector: { matchExpressions: [notExcluded] },
      },
      {
        ...structuredClone(settings.webhook),
        name: settings.namespaceWebhook.name,
        matchConditions: structuredClone(settings.namespaceWebhook.matchConditions),
        clientConfig: clientConfigFor(request.endpoint, settings.namespaceWebhook.path),
        namespaceSelector: {
          matchExpressions: request.clusterDefault === true ? [notExcluded] : [notExcluded, optInLabel],
        },
      },
    ],
  };
}
