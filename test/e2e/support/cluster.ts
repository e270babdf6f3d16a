// Access to the plane the global setup brought up: the admin kubeconfig and typed API clients.
import {
  AdmissionregistrationV1Api,
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  KubernetesObjectApi,
} from "@kubernetes/client-node";
import { inject } from "vitest";

export interface Clients {
  kubeConfig: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  admission: AdmissionregistrationV1Api;
  objects: KubernetesObjectApi;
}

let clients: Clients | undefined;

export function kubeconfigPath(): string {
  return inject("kubeconfig");
}

export function kubectlPath(): string {
  return `${inject("kubeBinDir")}/kubectl`;
}

/** Admin (system:masters) clients; one set per test file. */
export function adminClients(): Clients {
  if (clients) return clients;
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfigPath());
  clients = {
    kubeConfig,
    core: kubeConfig.makeApiClient(CoreV1Api),
    apps: kubeConfig.makeApiClient(AppsV1Api),
    admission: kubeConfig.makeApiClient(AdmissionregistrationV1Api),
    objects: KubernetesObjectApi.makeApiClient(kubeConfig),
  };
  return clients;
}
