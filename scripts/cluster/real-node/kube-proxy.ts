// kube-proxy of the real node, in iptables mode: it turns every Service's cluster IP into DNAT
// rules to the Service's ready endpoints, so a pod on the node reaches a Service the way it does
// in any cluster. Pods route only the Service range to the host (containerd.ts's CNI config); the
// host's netfilter applies the DNAT and sends the packet back over the bridge to the endpoint pod
// (bridge-nf-call-iptables lets conntrack undo the DNAT on the answer). Its identity is
// `system:kube-proxy`, which the apiserver's bootstrap policy binds to `system:node-proxier`.
//
// Its rules are host-wide (netfilter has no per-plane tables), which is one reason the real node
// is one per machine. Nothing it writes reaches beyond the machine: NodePorts are accepted on the
// bridge address only, and every host-wide sysctl is left as the host has it.
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { writePlaneClientKubeconfig } from "../kubeconfig.ts";
import type { ClusterPaths } from "../paths.ts";
import type { ProcessSpec } from "../processes.ts";
import { REAL_NODE_NAME, type RealNodeLayout } from "./layout.ts";

const execFileAsync = promisify(execFile);

export interface KubeProxyPorts {
  healthz: number;
  metrics: number;
}

export function kubeProxyConfiguration(layout: RealNodeLayout, ports: KubeProxyPorts): object {
  return {
    apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
    kind: "KubeProxyConfiguration",
    mode: "iptables",
    clientConnection: { kubeconfig: layout.kubeProxyKubeconfig },
    // The Node object it reads its addresses from is the kubelet's.
    hostnameOverride: REAL_NODE_NAME,
    bindAddress: "127.0.0.1",
    healthzBindAddress: `127.0.0.1:${ports.healthz}`,
    metricsBindAddress: `127.0.0.1:${ports.metrics}`,
    // Traffic from the pods' subnet is "local"; anything else sent to a cluster IP is masqueraded.
    detectLocalMode: "ClusterCIDR",
    clusterCIDR: layout.podSubnet,
    // NodePorts only on the bridge address, never on the machine's own interfaces; and no
    // localhost NodePorts, which would set the host-wide route_localnet sysctl.
    nodePortAddresses: [`${layout.gateway}/32`],
    iptables: { localhostNodePorts: false, masqueradeAll: false, syncPeriod: "30s", minSyncPeriod: "1s" },
    // 0 leaves the host's conntrack table size and timeouts alone (the sysctls are host-wide, and
    // /sys/module/nf_conntrack may be read-only in a sandbox).
    conntrack: {
      maxPerCore: 0,
      min: 0,
      tcpEstablishedTimeout: "0s",
      tcpCloseWaitTimeout: "0s",
      udpTimeout: "0s",
      udpStreamTimeout: "0s",
    },
    // No CAP_SYS_RESOURCE here: it may not lower its own oom_score_adj (the kubelet's reason too).
    oomScoreAdj: 0,
  };
}

/** Writes kube-proxy's configuration and its client kubeconfig (system:kube-proxy). */
export async function writeKubeProxyFiles(
  paths: ClusterPaths,
  layout: RealNodeLayout,
  ports: KubeProxyPorts,
  server: string,
): Promise<void> {
  await writePlaneClientKubeconfig({
    pki: paths.pki,
    server,
    path: layout.kubeProxyKubeconfig,
    name: "kube-proxy-client",
    user: "system:kube-proxy",
  });
  await writeFile(
    layout.kubeProxyConfig,
    `${JSON.stringify(kubeProxyConfiguration(layout, ports), null, 2)}\n`,
  );
}

export function kubeProxyProcess(binDir: string, layout: RealNodeLayout): ProcessSpec {
  return {
    name: "kube-proxy",
    command: join(binDir, "kube-proxy"),
    args: [`--config=${layout.kubeProxyConfig}`, "--v=1"],
    // iptables, iptables-restore and iptables-save are found on PATH (Debian's, in /usr/sbin).
    env: { PATH: `${binDir}:${process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin"}:/usr/sbin:/sbin` },
  };
}

/**
 * Removes every rule and chain kube-proxy wrote, with kube-proxy's own `--cleanup` (run after the
 * process has stopped, or its next sync would write them again).
 */
export async function cleanUpKubeProxyRules(binDir: string): Promise<void> {
  try {
    await execFileAsync(join(binDir, "kube-proxy"), ["--cleanup", "--v=0"], {
      env: { ...process.env, PATH: `${process.env.PATH ?? "/usr/bin:/bin"}:/usr/sbin:/sbin` },
    });
  } catch (error) {
    const stderr = String((error as { stderr?: string }).stderr ?? (error as Error).message).trim();
    throw new Error(`kube-proxy --cleanup could not remove its iptables rules: ${stderr.split("\n").at(-1)}`);
  }
}

/** kube-proxy's chain in the nat table: present while its rules are on the host. */
export const KUBE_PROXY_NAT_CHAIN = "KUBE-SERVICES";

/** True when kube-proxy's Service chain is in the host's nat table. */
export async function kubeProxyRulesPresent(): Promise<boolean> {
  // The whole table, not `-L KUBE-SERVICES`: for a chain that does not exist, iptables-nft answers
  // with an error that depends on what else is in the table.
  const { stdout } = await execFileAsync("iptables", ["-w", "5", "-t", "nat", "-S"], {
    env: { ...process.env, PATH: `${process.env.PATH ?? "/usr/bin:/bin"}:/usr/sbin:/sbin` },
  });
  return stdout.split("\n").includes(`-N ${KUBE_PROXY_NAT_CHAIN}`);
}
