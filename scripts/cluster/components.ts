// The plane's processes as kwokctl runs them: their names (kwokctl's, which name its pid and log
// files), where each answers health checks, and the audit log they are judged by.
import { join } from "node:path";
import type { ClusterPaths } from "./paths.ts";
import type { PlaneState } from "./state.ts";

/** kwokctl's start order; it stops them all at once. */
export const COMPONENTS = [
  "etcd",
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "kwok-controller",
] as const;
export type Component = (typeof COMPONENTS)[number];

/**
 * Requests from identities in this group (a client certificate's O) are written to the audit log
 * too (scripts/cluster/audit-policy.yaml), so a fault test can prove from the apiserver's side
 * which prepull replica wrote what and when: each replica gets its own identity in it.
 */
export const AUDITED_GROUP = "prepull:audited";

/** Where kwokctl points `--audit-log-path` when it is given an audit policy. */
export function auditLogPath(paths: ClusterPaths): string {
  return join(paths.logs, "audit.log");
}

/** Where each component answers health checks (the apiserver's needs the admin cert). */
export function healthUrl(component: Component, state: PlaneState): string {
  switch (component) {
    case "etcd":
      return `http://127.0.0.1:${state.ports.etcdClient}/health`;
    case "kube-apiserver":
      return `https://127.0.0.1:${state.ports.apiserver}/readyz`;
    // kwokctl lets /healthz through without authentication (--authorization-always-allow-paths).
    case "kube-controller-manager":
      return `https://127.0.0.1:${state.ports.controllerManager}/healthz`;
    case "kube-scheduler":
      return `https://127.0.0.1:${state.ports.scheduler}/healthz`;
    // kwok serves HTTP and HTTPS on one port.
    case "kwok-controller":
      return `http://127.0.0.1:${state.ports.kwok}/healthz`;
  }
}
