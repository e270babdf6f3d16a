// Pepr (npm) as a peer: bench/peers/pepr is a Pepr module whose one capability makes prepull's
// mutation (with prepull's own image code, bundled by `pepr build`). Its dependencies install
// from its package-lock.json into bench/peers/pepr/node_modules, and `pepr build` bundles it into
// bench/peers/pepr/dist.
//
// Pepr's controller binds /mutate only once it has read (or created) its PeprStore, a custom
// resource in namespace pepr-system, through a Kubernetes API. So the peer runs only with
// --plane: the bench installs that CRD and namespace on this worktree's plane first.
import { execFile } from "node:child_process";
import { access, readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  ApiextensionsV1Api,
  CoreV1Api,
  KubeConfig,
  type V1CustomResourceDefinition,
} from "@kubernetes/client-node";
import type { BenchCertificates } from "../support/certs.ts";
import type { Skipped } from "../support/report.ts";
import type { ServerSpec } from "../support/servers.ts";

const execFileAsync = promisify(execFile);

/** Pepr authenticates the apiserver by a token in the webhook path: /mutate/<token>. */
const API_TOKEN = "prepull-bench-token";
const PEPR_NAMESPACE = "pepr-system";

async function run(command: string, args: string[], cwd: string): Promise<void> {
  try {
    await execFileAsync(command, args, { cwd, maxBuffer: 64 * 1024 * 1024, timeout: 600_000 });
  } catch (error) {
    const { stdout = "", stderr = "" } = error as { stdout?: string; stderr?: string };
    const text = `${stderr}\n${stdout}`.trim().split("\n").slice(-3).join(" / ");
    throw new Error(`${command} ${args.join(" ")} failed in ${cwd}: ${text}`);
  }
}

function isConflict(error: unknown): boolean {
  return (error as { code?: number }).code === 409;
}

async function prepareCluster(kubeconfig: string, moduleDir: string): Promise<void> {
  const config = new KubeConfig();
  config.loadFromFile(kubeconfig);
  const crd = JSON.parse(
    await readFile(join(moduleDir, "peprstore-crd.json"), "utf8"),
  ) as V1CustomResourceDefinition;
  try {
    await config.makeApiClient(ApiextensionsV1Api).createCustomResourceDefinition({ body: crd });
  } catch (error) {
    if (!isConflict(error)) throw error;
  }
  try {
    await config.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: PEPR_NAMESPACE } } });
  } catch (error) {
    if (!isConflict(error)) throw error;
  }
}

export async function peprPeer(
  repo: string,
  certs: BenchCertificates,
  logFile: string,
  kubeconfig: string | undefined,
): Promise<{ spec: ServerSpec } | { skipped: Skipped }> {
  if (kubeconfig === undefined) {
    return {
      skipped: {
        what: "Pepr",
        why:
          "its controller serves /mutate only after reading its PeprStore (pepr-system) through a Kubernetes API " +
          "(without one it logs `Failed to create Pepr store` and never binds /mutate); run with --plane and the plane up",
      },
    };
  }
  const moduleDir = join(repo, "bench", "peers", "pepr");
  try {
    try {
      await access(join(moduleDir, "node_modules", "pepr", "package.json"));
    } catch {
      await run("npm", ["ci", "--no-audit", "--no-fund"], moduleDir);
    }
    await run(
      join(moduleDir, "node_modules", ".bin", "pepr"),
      ["build", "--no-embed", "-o", "dist"],
      moduleDir,
    );
    await prepareCluster(kubeconfig, moduleDir);
  } catch (error) {
    return { skipped: { what: "Pepr", why: (error as Error).message } };
  }
  return {
    spec: {
      name: "Pepr",
      command: process.execPath,
      args: [join(moduleDir, "dist", "pepr.js")],
      env: {
        KUBECONFIG: kubeconfig,
        SSL_CERT_PATH: certs.certFile,
        SSL_KEY_PATH: certs.keyFile,
        PEPR_API_TOKEN: API_TOKEN,
      },
      scheme: "https",
      mutatePath: `/mutate/${API_TOKEN}`,
      readyPath: "/healthz",
      logFile,
    },
  };
}
