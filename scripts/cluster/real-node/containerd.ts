// containerd for the real node: its own root, state, socket and runc root, so it shares nothing
// with any other containerd on the machine, and the settings this sandbox needs (see
// ../shared/REAL-NODE.md): runc may not lower oom_score_adj (no CAP_SYS_RESOURCE), cgroup v1
// with the cgroupfs driver, a plain-HTTP registry on loopback, and a pause image from it.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ProcessSpec } from "../processes.ts";
import { SERVICE_CLUSTER_IP_RANGE } from "../service-network.ts";
import { CNI_BIN_DIR, RUNC } from "./host.ts";
import { REGISTRY_HOST, type RealNodeLayout, SLEEPER_IMAGE } from "./layout.ts";

/**
 * The pod sandbox image is prepull's sleeper image: prepull-sleep sleeps until SIGTERM, all a
 * pause container does. Pinned, so the kubelet never collects it.
 */
const PAUSE_IMAGE = SLEEPER_IMAGE;

export function containerdConfig(layout: RealNodeLayout): string {
  const q = (value: string) => JSON.stringify(value);
  return `version = 3
root = ${q(layout.containerdRoot)}
state = ${q(layout.containerdState)}
# NRI would take the host-wide /var/run/nri socket.
disabled_plugins = ["io.containerd.nri.v1.nri"]

[grpc]
  address = ${q(layout.containerdSocket)}

[ttrpc]
  address = ${q(`${layout.containerdSocket}.ttrpc`)}

[plugins.'io.containerd.internal.v1.opt']
  path = ${q(join(layout.dir, "containerd", "opt"))}

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  # containerd's own default: a pull with no progress for this long is abandoned.
  image_pull_progress_timeout = "5m0s"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = ${q(PAUSE_IMAGE)}
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = ${q(layout.registryHostsDir)}

[plugins.'io.containerd.cri.v1.runtime']
  # No CAP_SYS_RESOURCE here: runc cannot lower oom_score_adj below containerd's own.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_cdi = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = [${q(CNI_BIN_DIR)}]
    conf_dir = ${q(layout.cniConfDir)}
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = ${q(RUNC)}
        Root = ${q(layout.runcRoot)}
        SystemdCgroup = false

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
`;
}

/**
 * Pulls of `registry.prepull.test/...` go to the throttled loopback port over plain HTTP. No TLS
 * keys at all: `skip_verify` would make containerd try HTTPS first.
 */
export function registryHostsToml(registryPort: number): string {
  return `server = "http://127.0.0.1:${registryPort}"

[host."http://127.0.0.1:${registryPort}"]
  capabilities = ["pull", "resolve"]
`;
}

/**
 * Bridge + host-local IPAM: pods get an address and no way out. The bridge holds the subnet's
 * gateway address (`isGateway`), so the host (the apiserver calling a webhook pod, the kubelet's
 * probes) reaches pods and pods reach the host on that address (the cluster DNS listens there).
 * Pods get no default route (no `isDefaultGateway`) and no masquerade: their one route besides
 * their own subnet is the Service range, through the gateway, to the host, where kube-proxy's
 * DNAT sends it back over the bridge to a pod. So they reach pods and Services, nothing else.
 * The pods' loopback interface is containerd's own doing (the `loopback` plugin from the same dir).
 */
export function cniConfig(layout: RealNodeLayout): string {
  return `${JSON.stringify(
    {
      cniVersion: "1.0.0",
      name: "prepull-real-node",
      plugins: [
        {
          type: "bridge",
          bridge: layout.bridge,
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: "host-local",
            dataDir: layout.cniDataDir,
            ranges: [[{ subnet: layout.podSubnet }]],
            // No `gw`: the range's gateway, the bridge address.
            routes: [{ dst: SERVICE_CLUSTER_IP_RANGE }],
          },
        },
      ],
    },
    null,
    2,
  )}\n`;
}

export async function writeContainerdFiles(layout: RealNodeLayout, registryPort: number): Promise<void> {
  for (const dir of [layout.containerdRoot, layout.containerdState, layout.runcRoot, layout.cniConfDir])
    await mkdir(dir, { recursive: true });
  await writeFile(layout.containerdConfig, containerdConfig(layout));
  // Every other registry (docker.io, ghcr.io, …) goes to the local one too (`_default`), where an
  // image that was not pushed is simply not found: a pod that names an outside image never makes
  // the node look a registry up in DNS or leave the machine.
  for (const host of [REGISTRY_HOST, "_default"]) {
    await mkdir(join(layout.registryHostsDir, host), { recursive: true });
    await writeFile(join(layout.registryHostsDir, host, "hosts.toml"), registryHostsToml(registryPort));
  }
  await writeFile(join(layout.cniConfDir, "10-prepull.conflist"), cniConfig(layout));
}

export function containerdProcess(binDir: string, layout: RealNodeLayout): ProcessSpec {
  return {
    name: "containerd",
    command: join(binDir, "containerd"),
    args: [`--config=${layout.containerdConfig}`, "--log-level=info"],
    // The shim and runc are found on PATH: ours first.
    env: { PATH: `${binDir}:${process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin"}` },
  };
}
