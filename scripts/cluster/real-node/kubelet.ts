// The kubelet of the real node: configuration, credentials and command line. It registers the
// node as `localhost` in its own pool, tainted so that only workloads that ask for it land there,
// and keeps all its state under the node directory.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { writePlaneClientKubeconfig } from "../kubeconfig.ts";
import { POOL_LABEL } from "../node-pools.ts";
import type { ClusterPaths } from "../paths.ts";
import { issueCertificate } from "../pki.ts";
import type { ProcessSpec } from "../processes.ts";
import { CLUSTER_DOMAIN } from "./cluster-dns.ts";
import { REAL_NODE_NAME, REAL_NODE_TAINT, REAL_POOL, type RealNodeLayout } from "./layout.ts";

export interface KubeletPorts {
  kubelet: number;
  healthz: number;
}

/**
 * Image garbage collection as tests need it: a pass frees every image no container uses once the
 * disk is over 1 % full (it always is), so "unpinned images go, used ones stay" shows within one
 * pass. The kubelet's pass period is fixed at 5 minutes; the first pass after start fails (no
 * stats yet), so the first useful one runs 5 minutes after start.
 */
export const IMAGE_GC = { highThresholdPercent: 1, lowThresholdPercent: 0, minimumAge: "10s" } as const;

export function kubeletConfiguration(
  layout: RealNodeLayout,
  ports: KubeletPorts,
  caFile: string,
  serving: { cert: string; key: string },
): object {
  return {
    apiVersion: "kubelet.config.k8s.io/v1beta1",
    kind: "KubeletConfiguration",
    address: "127.0.0.1",
    port: ports.kubelet,
    readOnlyPort: 0,
    healthzBindAddress: "127.0.0.1",
    healthzPort: ports.healthz,
    tlsCertFile: serving.cert,
    tlsPrivateKeyFile: serving.key,
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true },
      x509: { clientCAFile: caFile },
    },
    authorization: { mode: "Webhook" },
    containerRuntimeEndpoint: `unix://${layout.containerdSocket}`,
    // cgroup v1 host (kubelet >= 1.35 refuses it unless told), cgroupfs driver like containerd's runc.
    failCgroupV1: false,
    cgroupDriver: "cgroupfs",
    cgroupRoot: layout.cgroupRoot,
    failSwapOn: false,
    // No CAP_SYS_RESOURCE: the kubelet may not lower its own oom_score_adj either.
    oomScoreAdj: 0,
    podLogsDir: layout.podLogs,
    volumePluginDir: join(layout.dir, "volume-plugins"),
    // Pods with dnsPolicy ClusterFirst (the default) get the cluster DNS on the bridge address
    // (cluster-dns.ts) and the cluster's search domains; the host's resolver is never theirs:
    // pods with dnsPolicy Default get this file, whose only nameserver is their own loopback.
    clusterDNS: [layout.gateway],
    clusterDomain: CLUSTER_DOMAIN,
    resolvConf: layout.resolvConf,
    registerWithTaints: [REAL_NODE_TAINT],
    // The disk is the machine's, shared with everything else: evict only when it is really full.
    evictionHard: {
      "memory.available": "100Mi",
      "nodefs.available": "1%",
      "imagefs.available": "1%",
      "nodefs.inodesFree": "1%",
    },
    imageGCHighThresholdPercent: IMAGE_GC.highThresholdPercent,
    imageGCLowThresholdPercent: IMAGE_GC.lowThresholdPercent,
    imageMinimumGCAge: IMAGE_GC.minimumAge,
    // The upstream default: one pull at a time per node.
    serializeImagePulls: true,
    // A large image over a slow link: the CRI call may take minutes.
    runtimeRequestTimeout: "15m",
    shutdownGracePeriod: "0s",
    rotateCertificates: false,
    serverTLSBootstrap: false,
    localStorageCapacityIsolation: true,
  };
}

/** Writes the kubelet's config, client kubeconfig (system:node:localhost) and serving certificate. */
export async function writeKubeletFiles(
  paths: ClusterPaths,
  layout: RealNodeLayout,
  ports: KubeletPorts,
  server: string,
): Promise<void> {
  for (const dir of [layout.kubeletRoot, layout.podLogs, join(layout.dir, "volume-plugins")])
    await mkdir(dir, { recursive: true });
  const ca = { cert: join(paths.pki, "ca.crt"), key: join(paths.pki, "ca.key") };
  await writePlaneClientKubeconfig({
    pki: paths.pki,
    server,
    path: layout.kubeletKubeconfig,
    name: "kubelet-client",
    user: `system:node:${REAL_NODE_NAME}`,
    groups: ["system:nodes"],
  });
  const serving = await issueCertificate({
    ca,
    dir: paths.pki,
    name: "kubelet-serving",
    commonName: REAL_NODE_NAME,
    usage: "server",
    ipAddresses: ["127.0.0.1"],
    dnsNames: [REAL_NODE_NAME],
  });
  await writeFile(layout.resolvConf, "nameserver 127.0.0.1\n");
  await writeFile(
    layout.kubeletConfig,
    `${JSON.stringify(kubeletConfiguration(layout, ports, ca.cert, serving), null, 2)}\n`,
  );
}

/** `extraTaints`: more taints to register with, e.g. a startup taint, as a node joining an autoscaled pool has. */
export function kubeletProcess(
  binDir: string,
  layout: RealNodeLayout,
  extraTaints: readonly { key: string; value?: string; effect: string }[] = [],
): ProcessSpec {
  const taints = [REAL_NODE_TAINT, ...extraTaints].map((t) => `${t.key}=${t.value ?? ""}:${t.effect}`);
  return {
    name: "kubelet",
    command: join(binDir, "kubelet"),
    args: [
      `--config=${layout.kubeletConfig}`,
      `--kubeconfig=${layout.kubeletKubeconfig}`,
      `--root-dir=${layout.kubeletRoot}`,
      `--cert-dir=${join(layout.kubeletRoot, "pki")}`,
      `--hostname-override=${REAL_NODE_NAME}`,
      `--node-labels=${POOL_LABEL}=${REAL_POOL},type=real`,
      // The same as the configuration's registerWithTaints, plus the extra ones (a flag wins).
      `--register-with-taints=${taints.join(",")}`,
      "--v=1",
    ],
    env: { PATH: `${binDir}:${process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin"}` },
  };
}
