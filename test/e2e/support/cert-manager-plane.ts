// cert-manager in the plane, for tests that install the chart with it: its CRDs applied and
// established, and its own controller and CA injector (test/support/cert-manager-lite) running
// as local processes against the admin kubeconfig.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { certManagerLiteBinary, thirdPartyCrdFiles } from "../../support/cert-manager.ts";
import { parseManifests } from "../../support/helm.ts";
import { repoRoot } from "../../support/kube-bin.ts";
import { kubeconfigPath, kubectlPath } from "./cluster.ts";

function kubectl(args: readonly string[]): { status: number | null; output: string } {
  const result = spawnSync(kubectlPath(), ["--kubeconfig", kubeconfigPath(), ...args], { encoding: "utf8" });
  if (result.error !== undefined) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** Applies cert-manager's CRDs (server-side: too large for the last-applied annotation) and waits until they serve. */
export async function installThirdPartyCrds(): Promise<void> {
  const files = thirdPartyCrdFiles();
  const applied = kubectl([
    "apply",
    "--server-side",
    "--field-manager=prepull-e2e",
    ...files.flatMap((f) => ["-f", f]),
  ]);
  if (applied.status !== 0) throw new Error(`applying the CRDs failed: ${applied.output}`);
  const names = files.flatMap((f) =>
    parseManifests(readFileSync(f, "utf8")).map((crd) => `crd/${crd.metadata.name}`),
  );
  const established = kubectl(["wait", "--for=condition=Established", "--timeout=60s", ...names]);
  if (established.status !== 0) throw new Error(`CRDs not established: ${established.output}`);
}

export interface Running {
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Running {
  const child = spawn(command, args, { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (chunk: string) => {
    output = (output + chunk).slice(-64_000);
  };
  child.stdout?.setEncoding("utf8").on("data", keep);
  child.stderr?.setEncoding("utf8").on("data", keep);
  const exited = once(child, "exit");
  return {
    child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** cert-manager's controller and cainjector, against the plane. */
export function startCertManager(): Running[] {
  const binary = certManagerLiteBinary();
  const env = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", KUBECONFIG: kubeconfigPath() };
  return [run(binary, ["controller"], env), run(binary, ["cainjector"], env)];
}
