// The demo's prepull: the real server (`node src/main.ts`) on 127.0.0.1 with its reconciler, as
// one replica of the chart would run, supervised like the plane's processes (pid file, log under
// the plane's state directory), so `cluster:down` and `demo --down` stop it too (SIGTERM: it
// drains and hands its Lease back). A healthy one from an earlier demo run is reused if it runs
// the reconciler. The release namespace must exist before it starts (its Lease lives there).
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type ClusterPaths, REPO_ROOT } from "../cluster/paths.ts";
import { createCertificateAuthority, issueLoopbackServingCertificate } from "../cluster/pki.ts";
import { freeLoopbackPort } from "../cluster/ports.ts";
import { get, isHealthy, type TlsClient, waitUntil } from "../cluster/probe.ts";
import { isOurProcess, readPid, startProcess, stopProcess } from "../cluster/processes.ts";
import type { Progress } from "../cluster/progress.ts";
import { RELEASE_NAMESPACE } from "./workloads.ts";

export interface DemoPrepull {
  baseUrl: string;
  /** /metrics, on its own port. */
  metricsUrl: string;
  /** The demo CA, base64 PEM, for the webhook's caBundle. */
  caBundle: string;
  tls: TlsClient;
  logFile: string;
  reused: boolean;
}

const NAME = "prepull";

/**
 * `extraArgs`: more flags for a fresh prepull (the real node's sleeper image). A reused prepull
 * was started by an earlier demo on the same plane, with the same ones.
 */
export async function ensureDemoPrepull(
  paths: ClusterPaths,
  log: Progress,
  extraArgs: readonly string[] = [],
): Promise<DemoPrepull> {
  const dir = join(paths.root, "demo");
  const infoFile = join(dir, "prepull.json");
  const caCert = join(dir, "ca.crt");
  const logFile = join(paths.logs, `${NAME}.log`);
  const pid = await readPid(paths, NAME);
  if (pid !== undefined && (await isOurProcess(pid, paths))) {
    const { port, metricsPort } = JSON.parse(await readFile(infoFile, "utf8")) as {
      port: number;
      metricsPort: number;
    };
    const running = await describe(port, metricsPort, caCert, logFile, true);
    if ((await isHealthy(`${running.baseUrl}/readyz`, running.tls)) && (await runsReconciler(running))) {
      log(`reusing prepull (pid ${pid}) at ${running.baseUrl}`);
      return running;
    }
    // Unhealthy, or started by an earlier demo without the reconciler or the node gate: replace it.
    await stopProcess(pid, paths);
  }

  const ca = await createCertificateAuthority(dir, "ca", "prepull-demo-webhook-ca");
  const serving = await issueLoopbackServingCertificate(ca, dir, "serving", "prepull-demo");
  const port = await freeLoopbackPort();
  const metricsPort = await freeLoopbackPort();
  await writeFile(infoFile, JSON.stringify({ port, metricsPort }));
  // Flags rather than environment: they put the state directory on the command line, which is
  // how `cluster:down` recognises this process as the plane's.
  const started = await startProcess(paths, {
    name: NAME,
    // The Node running this script (24, via npm); the system one may be older.
    command: process.execPath,
    args: [
      join(REPO_ROOT, "src", "main.ts"),
      "--host=127.0.0.1",
      `--port=${port}`,
      `--metrics-port=${metricsPort}`,
      // The demo's table reads /metrics without a token; in a cluster the chart keeps it on.
      "--metrics-auth=off",
      `--tls-cert-file=${serving.cert}`,
      `--tls-key-file=${serving.key}`,
      `--kubeconfig=${paths.kubeconfig}`,
      `--pod-namespace=${RELEASE_NAMESPACE}`,
      "--prepull-reconciler=on",
      // The node gate, so the demo can show a node joining with the startup taint.
      "--prepull-node-gate=on",
      "--log-level=info",
      ...extraArgs,
    ],
  });
  const running = await describe(port, metricsPort, ca.cert, logFile, false);
  await waitUntil(
    async () => ((await isHealthy(`${running.baseUrl}/readyz`, running.tls)) ? true : undefined),
    {
      what: `prepull to answer /readyz (log: ${logFile})`,
      timeoutMs: 30_000,
      stillPossible: async () => {
        if (!(await isOurProcess(started, paths)))
          throw new Error(`prepull exited during start-up; see ${logFile}`);
      },
    },
  );
  log(`prepull started (pid ${started}) at ${running.baseUrl}`);
  return running;
}

async function describe(
  port: number,
  metricsPort: number,
  caCert: string,
  logFile: string,
  reused: boolean,
): Promise<DemoPrepull> {
  const ca = await readFile(caCert);
  return {
    baseUrl: `https://127.0.0.1:${port}`,
    metricsUrl: `https://127.0.0.1:${metricsPort}/metrics`,
    caBundle: ca.toString("base64"),
    tls: { ca },
    logFile,
    reused,
  };
}

/**
 * The reconciler registers prepull_leader on /metrics, the node gate prepull_node_gate_leader;
 * admission alone registers neither.
 */
async function runsReconciler(prepull: DemoPrepull): Promise<boolean> {
  const response = await get(prepull.metricsUrl, prepull.tls).catch(() => undefined);
  return (
    response?.status === 200 &&
    /^prepull_leader /m.test(response.body) &&
    /^prepull_node_gate_leader /m.test(response.body)
  );
}
