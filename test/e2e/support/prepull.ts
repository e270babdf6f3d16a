// Runs the real prepull server (`node src/main.ts`) on 127.0.0.1 with a throwaway certificate,
// waits until /readyz answers, and stops it. The apiserver reaches it at `baseUrl` + /mutate.
//
// By default it runs admission only (PREPULL_RECONCILER=off): every test server sharing the plane
// would otherwise run a reconciler over all of it, writing status annotations onto other tests'
// workloads, each an extra UPDATE admission that would break their call counts. `reconciler: true`
// runs the whole of prepull, with short lease timings, in `namespace` (which the test owns).
//
// /metrics is on its own port (`metricsUrl`). Tests read it as a plain scrape with image names
// (METRICS_AUTH=off, PREPULL_METRICS_IMAGE_NAMES=true) unless `env` says otherwise: the secure
// defaults have their own test (metrics-auth.test.ts).
import { type ChildProcess, spawn } from "node:child_process";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { REPO_ROOT } from "../../../scripts/cluster/paths.ts";
import { freeLoopbackPort } from "../../../scripts/cluster/ports.ts";
import { get, isHealthy, type TlsClient, waitUntil } from "../../../scripts/cluster/probe.ts";
import { kubeconfigPath } from "./cluster.ts";
import { type LabelFilter, sumOf } from "./metrics.ts";
import { throwawayServingTls } from "./tls.ts";

export interface PrepullOptions {
  /** prepull's own namespace (POD_NAMESPACE): where its DaemonSets go; excluded from the webhook. */
  namespace: string;
  /** Defaults to the plane's admin kubeconfig; `null` runs prepull without a cluster. */
  kubeconfig?: string | null;
  logLevel?: string;
  /** Run the reconciler too (PREPULL_RECONCILER=on); `namespace` must exist. Default: off. */
  reconciler?: boolean;
  /** Extra environment, applied last. */
  env?: Record<string, string>;
}

/** Lease timings for a reconciler under test: a successor takes over within seconds. */
export const E2E_LEASE_ENV = { PREPULL_LEASE_DURATION_SECONDS: "6", PREPULL_LEASE_RENEW_SECONDS: "2" };

export interface RunningPrepull {
  port: number;
  metricsPort: number;
  /** https://127.0.0.1:<metricsPort>/metrics */
  metricsUrl: string;
  /** The CA that signed prepull's serving certificate, PEM. */
  caPem: string;
  /** https://127.0.0.1:<port>, without the webhook path. */
  baseUrl: string;
  /** The CA that signed prepull's serving certificate, base64 PEM (clientConfig.caBundle). */
  caBundle: string;
  namespace: string;
  /** Everything prepull wrote to stdout and stderr so far. */
  output(): string;
  metrics(): Promise<string>;
  /** Sum of prepull_admission_requests_total over the samples matching the labels. */
  admissionRequests(filter?: LabelFilter): Promise<number>;
  /** SIGTERM, then SIGKILL after 10 s; resolves when the process has exited. Idempotent. */
  stop(): Promise<void>;
  /** Sends a signal at once (SIGKILL: a crash, nothing released); await `exited` for the end. */
  kill(signal: NodeJS.Signals): void;
  /** How the process ended, once it has. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const MAIN = join(REPO_ROOT, "src", "main.ts");

export async function startPrepull(options: PrepullOptions): Promise<RunningPrepull> {
  const tlsFiles = await throwawayServingTls();
  const port = await freeLoopbackPort();
  const metricsPort = await freeLoopbackPort();
  const baseUrl = `https://127.0.0.1:${port}`;
  const metricsUrl = `https://127.0.0.1:${metricsPort}/metrics`;
  const kubeconfig = options.kubeconfig === undefined ? kubeconfigPath() : options.kubeconfig;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOST: "127.0.0.1",
    PORT: String(port),
    METRICS_PORT: String(metricsPort),
    METRICS_AUTH: "off",
    PREPULL_METRICS_IMAGE_NAMES: "true",
    TLS_CERT_FILE: tlsFiles.serving.cert,
    TLS_KEY_FILE: tlsFiles.serving.key,
    POD_NAMESPACE: options.namespace,
    LOG_LEVEL: options.logLevel ?? "info",
    ...(options.reconciler === true
      ? { PREPULL_RECONCILER: "on", POD_NAME: `e2e-${options.namespace}`, ...E2E_LEASE_ENV }
      : { PREPULL_RECONCILER: "off" }),
    ...options.env,
  };
  if (kubeconfig === null) delete env.KUBECONFIG;
  else env.KUBECONFIG = kubeconfig;

  // process.execPath: the Node 24 running vitest (the system Node may be older).
  const child = spawn(process.execPath, [MAIN], { cwd: REPO_ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    output += chunk;
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    output += chunk;
  });
  const exitStatus = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const exited = exitStatus.then(() => undefined);
  let hasExited = false;
  void exited.then(() => {
    hasExited = true;
  });

  const tls: TlsClient = { ca: await readFile(tlsFiles.ca.cert) };
  const stop = async () => {
    if (!hasExited) await terminate(child, exited);
    await rm(tlsFiles.dir, { recursive: true, force: true });
  };
  try {
    await waitUntil(async () => ((await isHealthy(`${baseUrl}/readyz`, tls)) ? true : undefined), {
      what: `prepull to answer ${baseUrl}/readyz`,
      timeoutMs: 30_000,
      intervalMs: 100,
      stillPossible: async () => {
        if (hasExited)
          throw new Error(`prepull exited (code ${child.exitCode}) before it was ready:\n${output}`);
      },
    });
  } catch (error) {
    await stop();
    throw error;
  }

  const metrics = async () => {
    const response = await get(metricsUrl, tls);
    if (response.status !== 200)
      throw new Error(`GET /metrics answered ${response.status}: ${response.body}`);
    return response.body;
  };
  return {
    port,
    metricsPort,
    metricsUrl,
    caPem: tls.ca.toString(),
    baseUrl,
    caBundle: tlsFiles.caBundle,
    namespace: options.namespace,
    output: () => output,
    metrics,
    admissionRequests: async (filter = {}) =>
      sumOf(await metrics(), "prepull_admission_requests_total", filter),
    stop,
    kill: (signal) => {
      if (!hasExited) child.kill(signal);
    },
    exited: exitStatus,
  };
}

async function terminate(child: ChildProcess, exited: Promise<void>): Promise<void> {
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}
