// Where the real node keeps everything, and the host-wide names it takes (network bridge, cgroup
// root). Everything lives under the plane's state directory, so `cluster:down` removing that
// directory removes the node; the few host-wide names carry a short hash of that directory, so
// two planes on one machine (two checkouts) never share one.
import { createHash } from "node:crypto";
import { join } from "node:path";
import { POOL_LABEL } from "../node-pools.ts";
import type { ClusterPaths } from "../paths.ts";

/**
 * The node's name. The apiserver reaches a kubelet by the address type it prefers; `Hostname`
 * with this name resolves through /etc/hosts to loopback, so `kubectl logs` works and nothing
 * looks a node name up in DNS (nothing may leave the machine).
 */
export const REAL_NODE_NAME = "localhost";

/** The pool label value and the taint that keeps workloads that did not ask for it off the node. */
export const REAL_POOL = "real";
export const REAL_NODE_TAINT = { key: "prepull.dev/real-node", value: "true", effect: "NoSchedule" } as const;

/** What a pod spec needs to land on the real node (and only there). */
export const REAL_NODE_PLACEMENT = {
  nodeSelector: { [POOL_LABEL]: REAL_POOL },
  tolerations: [{ ...REAL_NODE_TAINT, operator: "Equal" }],
};

/** The registry's name inside the cluster: `.test` never resolves (RFC 2606); containerd maps it to loopback. */
export const REGISTRY_HOST = "registry.prepull.test";

/** prepull's sleeper in the local registry: the pods' sandbox image and the pre-pull init image. */
export const SLEEPER_IMAGE = `${REGISTRY_HOST}/prepull/sleeper:dev`;

export interface RealNodeLayout {
  dir: string;
  containerdRoot: string;
  containerdState: string;
  containerdConfig: string;
  containerdSocket: string;
  registryHostsDir: string;
  runcRoot: string;
  cniConfDir: string;
  cniDataDir: string;
  kubeletRoot: string;
  kubeletConfig: string;
  kubeletKubeconfig: string;
  podLogs: string;
  resolvConf: string;
  kubeProxyConfig: string;
  kubeProxyKubeconfig: string;
  clusterDnsCorefile: string;
  clusterDnsKubeconfig: string;
  /** The registry's manifests live in memory; its blobs here, kept for the plane's life. */
  registryBlobs: string;
  /** Linux bridge of the pods' network (at most 15 characters). */
  bridge: string;
  /** cgroup (in every hierarchy) under which the kubelet puts all pods. */
  cgroupRoot: string;
  /**
   * Private /24 of the pods, on the bridge only: no default route, no masquerade, and the host
   * does not forward, so nothing a pod sends leaves the machine.
   */
  podSubnet: string;
  /**
   * The bridge's own address in that subnet (the host's side): the apiserver reaches webhook pods
   * from it, pods reach the apiserver's forwarder on it (see apiserver-forward.ts), the cluster
   * DNS listens on it (cluster-dns.ts), and Service cluster IPs are routed to it (kube-proxy.ts).
   */
  gateway: string;
}

export function realNodeLayout(paths: ClusterPaths): RealNodeLayout {
  const dir = join(paths.root, "node");
  const id = createHash("sha256").update(paths.root).digest();
  const tag = id.toString("hex").slice(0, 6);
  const subnetPrefix = `10.${200 + ((id[3] ?? 0) % 50)}.${id[4] ?? 0}`;
  return {
    dir,
    containerdRoot: join(dir, "containerd", "root"),
    containerdState: join(dir, "containerd", "state"),
    containerdConfig: join(dir, "containerd", "config.toml"),
    containerdSocket: join(dir, "containerd", "containerd.sock"),
    registryHostsDir: join(dir, "containerd", "certs.d"),
    runcRoot: join(dir, "containerd", "runc"),
    cniConfDir: join(dir, "cni", "net.d"),
    cniDataDir: join(dir, "cni", "ipam"),
    kubeletRoot: join(dir, "kubelet"),
    kubeletConfig: join(dir, "kubelet-config.json"),
    kubeletKubeconfig: join(dir, "kubelet.kubeconfig"),
    podLogs: join(dir, "pod-logs"),
    resolvConf: join(dir, "resolv.conf"),
    kubeProxyConfig: join(dir, "kube-proxy-config.json"),
    kubeProxyKubeconfig: join(dir, "kube-proxy.kubeconfig"),
    clusterDnsCorefile: join(dir, "Corefile"),
    clusterDnsKubeconfig: join(dir, "cluster-dns.kubeconfig"),
    registryBlobs: join(dir, "registry"),
    bridge: `prepull${tag}`,
    cgroupRoot: `/prepull-${tag}`,
    podSubnet: `${subnetPrefix}.0/24`,
    gateway: `${subnetPrefix}.1`,
  };
}
