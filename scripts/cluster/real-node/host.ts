// Can this machine run a real node? A kubelet with containerd and runc needs root (mounts,
// cgroups, network namespaces), cgroup hierarchies, overlayfs, and two Debian packages: runc and
// the CNI plugins. What is missing of the packages is installed with apt-get; anything else that
// is missing is a one-line reason, so the plane can say why and carry on with KWOK nodes alone.
import { execFile } from "node:child_process";
import { access, constants, readFile } from "node:fs/promises";
import { promisify } from "node:util";
import type { Progress } from "../progress.ts";

const execFileAsync = promisify(execFile);

/** Where Debian's packages put what the node needs. */
export const RUNC = "/usr/sbin/runc";
export const CNI_BIN_DIR = "/usr/lib/cni";
const CNI_PLUGINS = ["bridge", "host-local", "loopback"] as const;

const PACKAGES: readonly { name: string; provides: string[] }[] = [
  { name: "runc", provides: [RUNC] },
  { name: "containernetworking-plugins", provides: CNI_PLUGINS.map((p) => `${CNI_BIN_DIR}/${p}`) },
];

async function executable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** undefined when the host can run a node, else why not (one line). */
export async function hostProblem(log: Progress): Promise<string | undefined> {
  if (process.platform !== "linux") return `a real node needs Linux, this is ${process.platform}`;
  if (process.getuid?.() !== 0) return "a real node needs root (mounts, cgroups, network namespaces)";
  const filesystems = await readFile("/proc/filesystems", "utf8");
  if (!/\boverlay\b/.test(filesystems))
    return "the kernel has no overlay filesystem (containerd's snapshotter)";
  const mounts = await readFile("/proc/self/mounts", "utf8");
  for (const controller of ["cpu", "memory", "pids"]) {
    const mounted = mounts
      .split("\n")
      .some((line) => / cgroup2? /.test(line) && (line.includes(controller) || line.includes(" cgroup2 ")));
    if (!mounted) return `no ${controller} cgroup controller is mounted`;
  }
  const missing: string[] = [];
  for (const pkg of PACKAGES)
    if (!(await Promise.all(pkg.provides.map(executable))).every(Boolean)) missing.push(pkg.name);
  if (missing.length === 0) return undefined;
  return await aptInstall(missing, log);
}

async function aptInstall(packages: string[], log: Progress): Promise<string | undefined> {
  log(`installing Debian packages for the real node: ${packages.join(", ")} (apt-get)`);
  try {
    await execFileAsync("apt-get", ["update", "-qq"], { maxBuffer: 16 * 1024 * 1024 });
    await execFileAsync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...packages], {
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (error) {
    const stderr = String((error as { stderr?: string }).stderr ?? (error as Error).message).trim();
    return `apt-get could not install ${packages.join(", ")}: ${stderr.split("\n").at(-1)}`;
  }
  for (const pkg of PACKAGES.filter((p) => packages.includes(p.name)))
    for (const path of pkg.provides)
      if (!(await executable(path))) return `${pkg.name} is installed but ${path} is missing`;
  return undefined;
}
