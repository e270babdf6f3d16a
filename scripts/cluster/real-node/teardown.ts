// Removing the real node leaves nothing behind on the host: pods stopped through the CRI (which
// also undoes their networking), then whatever a killed run left: processes in the node's
// cgroups, mounts under the node directory, the cgroups themselves, the bridge. (kube-proxy's
// iptables rules are removed by kube-proxy itself, see kube-proxy.ts.)
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir, readFile, rmdir } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { KUBE_PROXY_NAT_CHAIN, kubeProxyRulesPresent } from "./kube-proxy.ts";
import type { RealNodeLayout } from "./layout.ts";

const execFileAsync = promisify(execFile);
const CGROUP_FS = "/sys/fs/cgroup";

/** Stops and removes every pod sandbox (containers, network, mounts) while containerd still runs. */
export async function removeAllPods(crictl: string, layout: RealNodeLayout): Promise<void> {
  if (!existsSync(layout.containerdSocket)) return;
  await execFileAsync(
    crictl,
    [`--runtime-endpoint=unix://${layout.containerdSocket}`, "--timeout=60s", "rmp", "--all", "--force"],
    {
      timeout: 120_000,
    },
  ).catch(() => undefined); // containerd may already be gone; what it leaves is cleaned below.
}

/** The hierarchies where the kubelet made the node's cgroup root. */
async function cgroupRoots(layout: RealNodeLayout): Promise<string[]> {
  const roots: string[] = [];
  for (const hierarchy of await readdir(CGROUP_FS).catch(() => [] as string[])) {
    const dir = join(CGROUP_FS, hierarchy, layout.cgroupRoot);
    if (existsSync(dir)) roots.push(dir);
  }
  return roots;
}

async function descendants(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => []))
    if (entry.isDirectory()) {
      const child = join(dir, entry.name);
      found.push(...(await descendants(child)), child);
    }
  return found;
}

async function pidsIn(dir: string): Promise<number[]> {
  const text = await readFile(join(dir, "cgroup.procs"), "utf8").catch(() => "");
  return text.split("\n").filter(Boolean).map(Number);
}

/** Kills every process left in the node's cgroups and removes them, deepest first. */
export async function removeCgroups(layout: RealNodeLayout): Promise<void> {
  for (let round = 0; round < 20; round++) {
    let alive = 0;
    for (const root of await cgroupRoots(layout))
      for (const dir of [...(await descendants(root)), root])
        for (const pid of await pidsIn(dir)) {
          alive++;
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            // Already gone.
          }
        }
    if (alive === 0) break;
    await sleep(100);
  }
  for (const root of await cgroupRoots(layout))
    for (const dir of [...(await descendants(root)), root]) await rmdir(dir).catch(() => undefined);
}

/** Unmounts everything mounted at or below the node directory, deepest first. */
export async function unmountAll(layout: RealNodeLayout): Promise<void> {
  const mountinfo = await readFile("/proc/self/mountinfo", "utf8");
  const points = mountinfo
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((point): point is string => point !== undefined)
    // Octal escapes (\040 for a space) as the kernel writes them.
    .map((point) =>
      point.replace(/\\(\d{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8))),
    )
    .filter((point) => point === layout.dir || point.startsWith(`${layout.dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const point of points)
    await execFileAsync("umount", [point]).catch(() =>
      execFileAsync("umount", ["-l", point]).catch(() => undefined),
    );
}

export async function removeBridge(layout: RealNodeLayout): Promise<void> {
  if (!existsSync(`/sys/class/net/${layout.bridge}`)) return;
  await execFileAsync("ip", ["link", "delete", layout.bridge]).catch(() => undefined);
}

/** What is still on the host after teardown (empty when clean): for tests and for `down` to report. */
export async function leftovers(layout: RealNodeLayout): Promise<string[]> {
  const found: string[] = [];
  for (const root of await cgroupRoots(layout)) found.push(`cgroup ${root}`);
  const mountinfo = await readFile("/proc/self/mountinfo", "utf8");
  for (const line of mountinfo.split("\n")) {
    const point = line.split(" ")[4];
    if (point !== undefined && (point === layout.dir || point.startsWith(`${layout.dir}/`)))
      found.push(`mount ${point}`);
  }
  if (existsSync(`/sys/class/net/${layout.bridge}`)) found.push(`bridge ${layout.bridge}`);
  // Host-wide, so only asked of a plane that ran kube-proxy (its configuration is in the plane's directory).
  if (existsSync(layout.kubeProxyConfig) && (await kubeProxyRulesPresent()))
    found.push(`iptables chain ${KUBE_PROXY_NAT_CHAIN} (nat)`);
  return found;
}
