// Where the Kubernetes API is, if anywhere: an explicit KUBECONFIG wins, then the in-cluster
// service account. Without either prepull still serves admissions, so this never throws and
// makes no API call; it says once, clearly, why there is no cluster.
import { existsSync } from "node:fs";
import { delimiter } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";

const SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";

export interface KubeConfigOptions {
  /** Prepended to the service-account paths; tests point it at a fake mount. */
  serviceAccountPrefix?: string;
}

type Source = Pick<Config, "kubeconfig" | "kubernetesServiceHost">;

/** A usable KubeConfig, or undefined after logging exactly one warning that says why. */
export function loadKubeConfig(
  config: Source,
  log: Pick<Logger, "warn" | "info">,
  options: KubeConfigOptions = {},
): KubeConfig | undefined {
  const found = findKubeConfig(config, options.serviceAccountPrefix ?? "");
  if ("problem" in found) {
    log.warn(
      { kubeconfig: config.kubeconfig ?? null },
      `no Kubernetes API: ${found.problem}; serving admissions without a reconciler`,
    );
    return undefined;
  }
  log.info(
    { source: found.source, server: found.kubeConfig.getCurrentCluster()?.server },
    "Kubernetes API configured",
  );
  return found.kubeConfig;
}

type Found = { kubeConfig: KubeConfig; source: "KUBECONFIG" | "in-cluster" } | { problem: string };

function findKubeConfig(config: Source, prefix: string): Found {
  if (config.kubeconfig !== undefined) return fromKubeconfigFiles(config.kubeconfig);
  if (config.kubernetesServiceHost !== undefined) {
    const token = `${prefix}${SERVICE_ACCOUNT_TOKEN}`;
    if (!existsSync(token)) {
      return { problem: `KUBERNETES_SERVICE_HOST is set but the service account token ${token} is missing` };
    }
    const kubeConfig = new KubeConfig();
    // The library reads KUBERNETES_SERVICE_HOST/PORT itself and re-reads the rotating token file.
    kubeConfig.loadFromCluster(prefix);
    return { kubeConfig, source: "in-cluster" };
  }
  return { problem: "KUBECONFIG is unset and this is not a pod (KUBERNETES_SERVICE_HOST is unset)" };
}

/** KUBECONFIG may list several files, merged in order like kubectl does. */
function fromKubeconfigFiles(paths: string): Found {
  const files = paths.split(delimiter).filter((file) => file !== "");
  const kubeConfig = new KubeConfig();
  for (const [index, file] of files.entries()) {
    const part = index === 0 ? kubeConfig : new KubeConfig();
    try {
      part.loadFromFile(file);
      if (part !== kubeConfig) kubeConfig.mergeConfig(part, true);
    } catch (error) {
      // Unreadable, unparsable or clashing with an earlier file: the one warning names the file and the parser's reason.
      const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
      return { problem: `KUBECONFIG file ${file} is not usable (${reason})` };
    }
  }
  if (kubeConfig.getCurrentCluster() === null) {
    return { problem: `KUBECONFIG ${paths} has no current context with a cluster` };
  }
  return { kubeConfig, source: "KUBECONFIG" };
}
