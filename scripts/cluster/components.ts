// The command lines of the plane's processes. Everything binds to 127.0.0.1; every client
// identity is a certificate from the plane's CA whose subject the default RBAC bootstrap policy
// already knows (system:kube-controller-manager, system:kube-scheduler, system:masters).
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { KWOK_STAGES } from "./kwok-stages.ts";
import { type ClusterPaths, REPO_ROOT } from "./paths.ts";
import type { ProcessSpec } from "./processes.ts";
import { SERVICE_CLUSTER_IP_RANGE } from "./service-network.ts";
import type { PlaneState } from "./state.ts";

/** Start order; stop order is the reverse. */
export const COMPONENTS = [
  "etcd",
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "kwok",
] as const;
export type Component = (typeof COMPONENTS)[number];

const NODE_LEASE_SECONDS = 120;
const SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local";

export function componentKubeconfig(paths: ClusterPaths, component: Component): string {
  return join(paths.root, `${component}.kubeconfig`);
}

function pki(paths: ClusterPaths, file: string): string {
  return join(paths.pki, file);
}

export function etcd(paths: ClusterPaths, state: PlaneState): ProcessSpec {
  const client = `http://127.0.0.1:${state.ports.etcdClient}`;
  const peer = `http://127.0.0.1:${state.ports.etcdPeer}`;
  return {
    name: "etcd",
    command: join(state.binDir, "etcd"),
    args: [
      "--name=prepull",
      `--data-dir=${paths.etcdData}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=prepull=${peer}`,
      // A throwaway test store: durability across power loss is not worth an fsync per write.
      "--unsafe-no-fsync",
      "--log-level=warn",
    ],
  };
}

/**
 * Requests from identities in this group (a client certificate's O) are written to the audit log
 * too (scripts/cluster/audit-policy.yaml), so a fault test can prove from the apiserver's side
 * which prepull replica wrote what and when: each replica gets its own identity in it.
 */
export const AUDITED_GROUP = "prepull:audited";

export function auditLogPath(paths: ClusterPaths): string {
  return join(paths.logs, "audit.log");
}

export function kubeApiserver(paths: ClusterPaths, state: PlaneState): ProcessSpec {
  return {
    name: "kube-apiserver",
    command: join(state.binDir, "kube-apiserver"),
    args: [
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${state.ports.apiserver}`,
      `--etcd-servers=http://127.0.0.1:${state.ports.etcdClient}`,
      `--client-ca-file=${pki(paths, "ca.crt")}`,
      `--tls-cert-file=${pki(paths, "apiserver.crt")}`,
      `--tls-private-key-file=${pki(paths, "apiserver.key")}`,
      "--authorization-mode=Node,RBAC",
      `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
      `--service-account-key-file=${pki(paths, "service-accounts.pub")}`,
      `--service-account-signing-key-file=${pki(paths, "service-accounts.key")}`,
      `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
      // The endpoint reconciler refuses a loopback advertise address; nothing here runs inside the
      // cluster, so the `kubernetes` Service needs no endpoints.
      "--endpoint-reconciler-type=none",
      // The defaults (MutatingAdmissionWebhook among them) plus what kubeadm adds.
      "--enable-admission-plugins=NodeRestriction",
      "--allow-privileged=true",
      // The real node is `localhost` and reports it as its Hostname address: `kubectl logs` and
      // exec reach its kubelet on loopback, and no node name is ever looked up in DNS.
      "--kubelet-preferred-address-types=Hostname",
      `--kubelet-client-certificate=${pki(paths, "apiserver-kubelet-client.crt")}`,
      `--kubelet-client-key=${pki(paths, "apiserver-kubelet-client.key")}`,
      `--kubelet-certificate-authority=${pki(paths, "ca.crt")}`,
      // Webhooks (and aggregated APIs) are called at an endpoint of their Service, not its cluster
      // IP: only the real node runs kube-proxy (its iptables rules are host-wide, so one plane per
      // machine may have it; KWOK-only planes have none), and the real node's pod addresses are
      // reachable from the host on its bridge.
      "--enable-aggregator-routing=true",
      "--profiling=false",
      // What ServiceAccounts do, for the least-privilege test (metadata only, bounded size).
      `--audit-policy-file=${join(REPO_ROOT, "scripts", "cluster", "audit-policy.yaml")}`,
      `--audit-log-path=${auditLogPath(paths)}`,
      "--audit-log-maxsize=200",
      "--audit-log-maxbackup=1",
    ],
  };
}

export function kubeControllerManager(paths: ClusterPaths, state: PlaneState): ProcessSpec {
  const kubeconfig = componentKubeconfig(paths, "kube-controller-manager");
  return {
    name: "kube-controller-manager",
    command: join(state.binDir, "kube-controller-manager"),
    args: [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      "--bind-address=127.0.0.1",
      `--secure-port=${state.ports.controllerManager}`,
      `--tls-cert-file=${pki(paths, "kube-controller-manager.crt")}`,
      `--tls-private-key-file=${pki(paths, "kube-controller-manager.key")}`,
      "--leader-elect=false",
      // Each controller acts as its own ServiceAccount, as in a real cluster, so RBAC applies.
      "--use-service-account-credentials=true",
      `--service-account-private-key-file=${pki(paths, "service-accounts.key")}`,
      `--root-ca-file=${pki(paths, "ca.crt")}`,
      `--cluster-signing-cert-file=${pki(paths, "ca.crt")}`,
      `--cluster-signing-key-file=${pki(paths, "ca.key")}`,
      `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
      "--cluster-name=prepull",
      // The defaults (20/30) make a DaemonSet over 1000 nodes take a minute just to create pods.
      "--kube-api-qps=200",
      "--kube-api-burst=400",
      "--concurrent-daemonset-syncs=4",
      // Longer than kwok's lease duration, so a node is NotReady only when kwok really stopped.
      `--node-monitor-grace-period=${NODE_LEASE_SECONDS + 30}s`,
      "--profiling=false",
    ],
  };
}

export async function kubeScheduler(paths: ClusterPaths, state: PlaneState): Promise<ProcessSpec> {
  const kubeconfig = componentKubeconfig(paths, "kube-scheduler");
  const config = join(paths.root, "kube-scheduler.config.json");
  await writeFile(
    config,
    JSON.stringify({
      apiVersion: "kubescheduler.config.k8s.io/v1",
      kind: "KubeSchedulerConfiguration",
      clientConnection: { kubeconfig, qps: 200, burst: 400 },
      leaderElection: { leaderElect: false },
    }),
  );
  return {
    name: "kube-scheduler",
    command: join(state.binDir, "kube-scheduler"),
    args: [
      `--config=${config}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      "--bind-address=127.0.0.1",
      `--secure-port=${state.ports.scheduler}`,
      `--tls-cert-file=${pki(paths, "kube-scheduler.crt")}`,
      `--tls-private-key-file=${pki(paths, "kube-scheduler.key")}`,
      "--profiling=false",
    ],
  };
}

export async function kwok(paths: ClusterPaths, state: PlaneState): Promise<ProcessSpec> {
  const config = join(paths.root, "kwok.yaml");
  const configuration = {
    apiVersion: "config.kwok.x-k8s.io/v1alpha1",
    kind: "KwokConfiguration",
    // Four workers each (the defaults) leave 1000 new nodes waiting minutes for their first status.
    options: { nodePlayStageParallelism: 16, podPlayStageParallelism: 16, nodeLeaseParallelism: 8 },
  };
  await writeFile(config, `${JSON.stringify(configuration)}\n---\n${KWOK_STAGES}`);
  return {
    name: "kwok",
    command: join(state.binDir, "kwok"),
    args: [
      `--config=${config}`,
      `--kubeconfig=${componentKubeconfig(paths, "kwok")}`,
      // Only the simulated nodes (created with this annotation); the real node has a kubelet.
      "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
      `--server-address=127.0.0.1:${state.ports.kwok}`,
      // Pod IPs for up to 65k pods (the default /24 runs out past 254).
      "--cidr=10.0.0.1/16",
      // Heartbeats through Leases, as kubelets do, renewed every quarter of this: 1000 nodes cost
      // the apiserver 33 writes/s instead of 100 with the usual 40 s (see the node grace period).
      `--node-lease-duration-seconds=${NODE_LEASE_SECONDS}`,
    ],
  };
}

/** Where each component answers health checks, and whether the probe needs the admin cert. */
export function healthUrl(component: Component, state: PlaneState): string {
  switch (component) {
    case "etcd":
      return `http://127.0.0.1:${state.ports.etcdClient}/health`;
    case "kube-apiserver":
      return `https://127.0.0.1:${state.ports.apiserver}/readyz`;
    case "kube-controller-manager":
      return `https://127.0.0.1:${state.ports.controllerManager}/healthz`;
    case "kube-scheduler":
      return `https://127.0.0.1:${state.ports.scheduler}/healthz`;
    case "kwok":
      return `http://127.0.0.1:${state.ports.kwok}/healthz`;
  }
}
