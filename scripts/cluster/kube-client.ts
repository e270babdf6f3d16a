// Typed API clients for the plane's admin kubeconfig, and the one error check everybody needs.
import { ApiException, AppsV1Api, CoreV1Api, KubeConfig } from "@kubernetes/client-node";

export interface AdminClients {
  kubeConfig: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
}

export function adminClients(kubeconfigPath: string): AdminClients {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfigPath);
  return { kubeConfig, core: kubeConfig.makeApiClient(CoreV1Api), apps: kubeConfig.makeApiClient(AppsV1Api) };
}

/** True for an API error with this HTTP status (404 NotFound, 409 AlreadyExists/Conflict, ...). */
export function isApiStatus(error: unknown, status: number): boolean {
  return error instanceof ApiException && error.code === status;
}

/** For `.catch`: cleanup of something already gone is done; any other error is not. */
export function unlessGone(error: unknown): void {
  if (!isApiStatus(error, 404)) throw error;
}
