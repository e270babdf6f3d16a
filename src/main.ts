// Composition root: configuration → logger → Kubernetes client → reconciler (its queue) → HTTPS
// admission app and HTTPS metrics app → listen; SIGTERM/SIGINT drain the servers, stop the
// reconciler (releasing its lease) and exit. Everything below is built here and passed in.
import { hostname } from "node:os";
import type { KubeConfig } from "@kubernetes/client-node";
import { Registry } from "prom-client";
import { type Config, helpText, loadConfig, wantsHelp } from "./config.ts";
import { ConfigError } from "./config-parsers.ts";
import { ownedLabels } from "./core/daemonset.ts";
import { buildApp } from "./http/app.ts";
import { buildMetricsApp, METRICS_PATH } from "./http/metrics-app.ts";
import { cachedAuthorizer, type TokenAuthorizer } from "./http/metrics-auth.ts";
import { type RunningServer, serve } from "./http/server.ts";
import { readTlsMaterial, TlsMaterialError } from "./http/tls.ts";
import { nonResourceAccessReview } from "./kube/access-review.ts";
import { loadKubeConfig } from "./kube/client.ts";
import { createKubeRest } from "./kube/rest.ts";
import { createLogger, type Logger } from "./log.ts";
import { registerProcessMetrics } from "./metrics.ts";
import { gateSettingsFrom, nodeGateSettingsFrom } from "./reconcile/node-gate-settings.ts";
import { startNodeGate } from "./reconcile/node-gate-start.ts";
import { RecordingQueue } from "./reconcile/queue.ts";
import { reconcilerSettingsFrom } from "./reconcile/settings.ts";
import { type RunningReconciler, startReconciler } from "./reconcile/start.ts";
import { uninstall } from "./reconcile/uninstall.ts";

/** Startup problems an operator fixes in the configuration: one line on stderr, exit 1. */
function failStartup(error: unknown): never {
  if (error instanceof ConfigError || error instanceof TlsMaterialError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
  throw error;
}

/** A port in use or an address this host does not have is a configuration problem too. */
function listenProblem(error: unknown, config: Config, portSetting: "PORT" | "METRICS_PORT"): unknown {
  const code = error instanceof Error && "code" in error ? String(error.code) : undefined;
  const port = portSetting === "PORT" ? config.port : config.metricsPort;
  const target = `cannot listen on ${config.host}:${port} (${code})`;
  if (code === "EADDRINUSE" || code === "EACCES") return new ConfigError(portSetting, target);
  if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND") return new ConfigError("HOST", target);
  return error;
}

/**
 * The reconciler, when there is a Kubernetes API and PREPULL_RECONCILER=on, with the node gate
 * beside it when PREPULL_NODE_GATE=on (stopped together). Otherwise admission runs alone: its
 * hand-offs go to a RecordingQueue and nothing is written to the cluster.
 */
function kubeConfigIfWanted(config: Config, log: Logger): KubeConfig | undefined {
  if (!config.reconciler) {
    log.info("PREPULL_RECONCILER=off: serving admissions only; nothing is written to the cluster");
    return undefined;
  }
  return loadKubeConfig(config, log);
}

async function startReconcilerIfWanted(
  config: Config,
  kubeConfig: KubeConfig | undefined,
  registry: Registry,
  log: Logger,
): Promise<RunningReconciler | undefined> {
  if (kubeConfig === undefined) return undefined;
  const settings = reconcilerSettingsFrom(config, { hostname: hostname(), pid: process.pid });
  const reconciler = await startReconciler({ kubeConfig, settings, registry, logger: log });
  if (!config.nodeGate) return reconciler;
  const gateSettings = nodeGateSettingsFrom(config, settings, ownedLabels(settings.prepull));
  const gate = startNodeGate({ kubeConfig, settings: gateSettings, registry, logger: log });
  return { ...reconciler, stop: () => Promise.all([gate.stop(), reconciler.stop()]).then(() => undefined) };
}

/**
 * Who may read /metrics: with METRICS_AUTH=on, the apiserver judges each bearer token (cached
 * briefly); with no Kubernetes API to ask, nobody (503), rather than everybody.
 */
function metricsAuthorizer(
  config: Config,
  kubeConfig: KubeConfig | undefined,
  log: Logger,
): TokenAuthorizer | undefined {
  if (!config.metricsAuth) return undefined;
  if (kubeConfig === undefined) {
    log.info(
      "METRICS_AUTH=on without a Kubernetes API: /metrics answers 503 (set METRICS_AUTH=off to serve it)",
    );
    return () => Promise.reject(new Error("no Kubernetes API to review the token with"));
  }
  return cachedAuthorizer(nonResourceAccessReview(createKubeRest(kubeConfig), METRICS_PATH));
}

/** Drain the servers first (in-flight admissions still hand off), then stop the reconciler. */
async function shutDown(servers: RunningServer[], reconciler: RunningReconciler | undefined): Promise<void> {
  await Promise.all(servers.map((server) => server.close()));
  await reconciler?.stop();
}

function stopOnSignals(
  servers: RunningServer[],
  reconciler: RunningReconciler | undefined,
  config: Config,
  log: Logger,
): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, "second signal: exiting without waiting for in-flight requests");
      process.exit(1);
    }
    stopping = true;
    log.info(
      { signal, timeoutSeconds: config.shutdownTimeoutSeconds },
      "shutting down: draining in-flight requests",
    );
    // Unref'd: it only fires if something still holds the process open past the deadline. A clean
    // shutdown leaves nothing running and the process exits by itself, after the log is written
    // out (pino writes stdout asynchronously: an explicit exit could lose or reorder last lines).
    setTimeout(() => {
      log.error("shutdown deadline passed: closing remaining connections");
      for (const server of servers) server.destroyConnections();
      process.exit(1);
    }, config.shutdownTimeoutSeconds * 1000).unref();
    shutDown(servers, reconciler).then(
      () => log.info("stopped"),
      (error: unknown) => {
        log.error({ err: error }, "error while shutting down; exiting");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

/**
 * PREPULL_UNINSTALL=on: the chart's post-delete hook. Removes what prepull created at run time
 * and exits 0, or 1 with the reason.
 */
async function runUninstall(config: Config, log: Logger): Promise<void> {
  const kubeConfig = loadKubeConfig(config, log);
  if (kubeConfig === undefined) {
    log.error("PREPULL_UNINSTALL=on needs a Kubernetes API (in-cluster or KUBECONFIG)");
    process.exitCode = 1;
    return;
  }
  const settings = reconcilerSettingsFrom(config, { hostname: hostname(), pid: process.pid });
  try {
    const removed = await uninstall({
      kubeConfig,
      settings,
      ownedLabels: ownedLabels(settings.prepull),
      gate: config.nodeGate ? gateSettingsFrom(config) : undefined,
      logger: log,
      // The departing leader hands the Lease over on SIGTERM; if it was killed, its lease runs out.
      acquireTimeoutMs: (settings.leaderElection.leaseDurationSeconds * 2 + 30) * 1000,
    });
    log.info(removed, "uninstall complete");
  } catch (error) {
    log.error({ err: error }, "uninstall failed");
    process.exitCode = 1;
  }
}

/** The serving files; loadConfig has required them unless PREPULL_UNINSTALL=on. */
function servingFiles(config: Config): { certFile: string; keyFile: string } {
  const { tlsCertFile: certFile, tlsKeyFile: keyFile } = config;
  if (certFile === undefined || keyFile === undefined) throw new ConfigError("TLS_CERT_FILE", "must be set");
  return { certFile, keyFile };
}

async function main(): Promise<void> {
  if (wantsHelp()) {
    process.stdout.write(helpText());
    return;
  }
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    failStartup(error);
  }
  if (config.uninstall) {
    await runUninstall(config, createLogger(config.logLevel));
    return;
  }
  let tls: ReturnType<typeof readTlsMaterial>;
  let tlsFiles: { certFile: string; keyFile: string };
  try {
    tlsFiles = servingFiles(config);
    tls = readTlsMaterial(tlsFiles);
  } catch (error) {
    failStartup(error);
  }
  const log = createLogger(config.logLevel);
  const registry = new Registry();
  registerProcessMetrics(registry);

  const kubeConfig = kubeConfigIfWanted(config, log);
  const reconciler = await startReconcilerIfWanted(config, kubeConfig, registry, log);
  const queue = reconciler?.queue ?? new RecordingQueue();

  const app = buildApp({ registry, queue, logger: log, tls });
  const metricsApp = buildMetricsApp({
    registry,
    logger: log,
    tls,
    authorize: metricsAuthorizer(config, kubeConfig, log),
  });
  const servers: RunningServer[] = [];
  for (const [built, port, setting] of [
    [app, config.port, "PORT"],
    [metricsApp, config.metricsPort, "METRICS_PORT"],
  ] as const) {
    try {
      servers.push(await serve(built, { host: config.host, port, tlsFiles, tls, log }));
    } catch (error) {
      await Promise.all(servers.map((server) => server.close()));
      await reconciler?.stop();
      failStartup(listenProblem(error, config, setting));
    }
  }
  stopOnSignals(servers, reconciler, config, log);
}

await main();
