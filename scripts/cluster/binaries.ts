// The control-plane binaries come from scripts/build-kube.sh, which builds them once into a cache
// keyed by version and prints that directory on its last stdout line (a warm cache builds nothing).
import { spawn } from "node:child_process";
import { access, constants } from "node:fs/promises";
import { join } from "node:path";
import { REPO_ROOT } from "./paths.ts";

export const BINARIES = [
  "etcd",
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "kwok",
  "kwokctl",
  "kubectl",
] as const;

/** The real node's binaries, built by the same script into the same directory. */
export const NODE_BINARIES = [
  "kubelet",
  "kube-proxy",
  "coredns",
  "containerd",
  "containerd-shim-runc-v2",
  "crictl",
  "crane",
  "prepull-sleep",
] as const;

/** Runs the build script (its progress goes to our stderr) and returns the verified bin directory. */
export async function resolveBinDir(): Promise<string> {
  const fromEnv = process.env.PREPULL_KUBE_BIN_DIR;
  const dir = fromEnv ?? (await runBuildScript());
  for (const name of [...BINARIES, ...NODE_BINARIES]) {
    try {
      await access(join(dir, name), constants.X_OK);
    } catch {
      throw new Error(
        `${name} is missing from ${dir}${fromEnv ? " (PREPULL_KUBE_BIN_DIR)" : ""}; run \`npm run kube:build\``,
      );
    }
  }
  return dir;
}

async function runBuildScript(): Promise<string> {
  const script = join(REPO_ROOT, "scripts", "build-kube.sh");
  const child = spawn("bash", [script], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "inherit"] });
  let stdout = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    stdout += chunk;
  });
  const code = await new Promise<number | null>((resolvePromise, reject) => {
    child.once("error", reject);
    child.once("close", resolvePromise);
  });
  if (code !== 0)
    throw new Error(`scripts/build-kube.sh failed with exit code ${code} (its output is above)`);
  const lastLine = stdout.trim().split("\n").at(-1);
  if (!lastLine) throw new Error("scripts/build-kube.sh printed no bin directory");
  return lastLine.trim();
}
