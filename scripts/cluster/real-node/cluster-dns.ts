// The real node's cluster DNS: CoreDNS as a host process (like containerd), listening on the
// bridge's address, where every pod on the node reaches it without a route. Its `kubernetes`
// plugin answers `<service>.<namespace>.svc.cluster.local` with the Service's cluster IP from the
// plane's apiserver; the kubelet's `clusterDNS` names it, so pods with the default ClusterFirst
// policy get it as their only nameserver with the cluster search domains.
//
// It answers for the cluster's zones only and forwards nothing: nothing may leave the machine, so
// any other name is refused at once instead of being looked up outside.

import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { RbacAuthorizationV1Api } from "@kubernetes/client-node";
import { isApiStatus } from "../kube-client.ts";
import { writePlaneClientKubeconfig } from "../kubeconfig.ts";
import type { ClusterPaths } from "../paths.ts";
import type { ProcessSpec } from "../processes.ts";
import type { RealNodeLayout } from "./layout.ts";

export const CLUSTER_DOMAIN = "cluster.local";

/** CoreDNS's identity (its client certificate's CN), and its ClusterRole and binding's name. */
const CLUSTER_DNS_USER = "prepull:real-node-dns";

/** What the `kubernetes` plugin lists and watches (with `pods disabled`, no Pods). */
export const CLUSTER_DNS_RULES = [
  { apiGroups: [""], resources: ["services", "namespaces"], verbs: ["list", "watch"] },
  { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list", "watch"] },
];

/**
 * The Corefile: the cluster zone and the reverse zones of Service and pod addresses, bound to the
 * bridge address on port 53 (what resolv.conf's `nameserver` means). `ready` answers 200 on
 * loopback once the `kubernetes` plugin has synced with the apiserver.
 */
export function corefile(layout: RealNodeLayout, readyPort: number): string {
  return `${CLUSTER_DOMAIN}:53 in-addr.arpa:53 ip6.arpa:53 {
    bind ${layout.gateway}
    errors
    ready 127.0.0.1:${readyPort}
    kubernetes ${CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {
        kubeconfig ${layout.clusterDnsKubeconfig} prepull
        pods disabled
        ttl 5
    }
}
`;
}

/** Grants CoreDNS's user what its `kubernetes` plugin reads (a fresh plane has neither object). */
export async function grantClusterDnsAccess(rbac: RbacAuthorizationV1Api): Promise<void> {
  const metadata = { name: CLUSTER_DNS_USER, labels: { "app.kubernetes.io/part-of": "prepull-plane" } };
  const created = [
    rbac.createClusterRole({ body: { metadata, rules: CLUSTER_DNS_RULES } }),
    rbac.createClusterRoleBinding({
      body: {
        metadata,
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: CLUSTER_DNS_USER },
        subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: CLUSTER_DNS_USER }],
      },
    }),
  ];
  // 409: already granted, by an earlier start of the node in this plane.
  for (const result of await Promise.allSettled(created))
    if (result.status === "rejected" && !isApiStatus(result.reason, 409)) throw result.reason;
}

/** Writes the Corefile and CoreDNS's client kubeconfig. */
export async function writeClusterDnsFiles(
  paths: ClusterPaths,
  layout: RealNodeLayout,
  readyPort: number,
  server: string,
): Promise<void> {
  await writePlaneClientKubeconfig({
    pki: paths.pki,
    server,
    path: layout.clusterDnsKubeconfig,
    name: "cluster-dns-client",
    user: CLUSTER_DNS_USER,
  });
  await writeFile(layout.clusterDnsCorefile, corefile(layout, readyPort));
}

export function clusterDnsProcess(binDir: string, layout: RealNodeLayout): ProcessSpec {
  return {
    name: "coredns",
    command: join(binDir, "coredns"),
    args: ["-conf", layout.clusterDnsCorefile],
  };
}
