// Composition root: configuration → logger → Kubernetes client → reconcile queue → HTTPS app →
// listen; SIGTERM/SIGINT drain and exit. Everything below is built here and passed in.
import { Registry } from "prom-client";
import { type Config, ConfigError, helpText, loadConfig, wantsHelp } from "./config.ts";
import { buildApp } from "./http/app.ts";
import { type RunningServer, serve } from "./http/server.ts";
import { readTlsMaterial, TlsMaterialError } from "./http/tls.ts";
import { loadKubeConfig } from "./kube/client.ts";
import { createLogger, type Logger } from "./log.ts";
import { registerProcessMetrics } from "./metrics.ts";
import { type ReconcileQueue, RecordingQueue } from "./reconcile/queue.ts";

/** Startup problems an operator fixes in the configuration: one line on stderr, exit 1. */
function failStartup(error: unknown): never {
  if (error instanceof ConfigError || error instanceof TlsMaterialError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
  throw error;
}

/** A port in use or an address this host does not have is a configuration problem too. */
function listenProblem(error: unknown, config: Config): unknown {
  const code = error instanceof Error && "code" in error ? String(error.code) : undefined;
  const target = `cannot listen on ${config.host}:${config.port} (${code})`;
  if (code === "EADDRINUSE" || code === "EACCES") return new ConfigError("PORT", target);
  if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND") return new ConfigError("HOST", target);
  return error;
}

function drainOnSignals(server: RunningServer, config: Config, log: Logger): void {
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
    // Unref'd: it only fires if something still holds the process open past the deadline.
    setTimeout(() => {
      log.error("shutdown deadline passed: closing remaining connections");
      server.destroyConnections();
      process.exit(1);
    }, config.shutdownTimeoutSeconds * 1000).unref();
    server.close().then(
      () => log.info("stopped"),
      (error: unknown) => {
        log.error({ err: error }, "error while closing; exiting");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

async function main(): Promise<void> {
  if (wantsHelp()) {
    process.stdout.write(helpText());
    return;
  }
  let config: Config;
  let tls: ReturnType<typeof readTlsMaterial>;
  try {
    config = loadConfig();
    tls = readTlsMaterial({ certFile: config.tlsCertFile, keyFile: config.tlsKeyFile });
  } catch (error) {
    failStartup(error);
  }
  const log = createLogger(config.logLevel);
  const registry = new Registry();
  registerProcessMetrics(registry);

  const kubeConfig = loadKubeConfig(config, log);
  // The reconciler plugs in here: with a kubeConfig it will drain this queue into DaemonSets.
  const queue: ReconcileQueue = kubeConfig === undefined ? new RecordingQueue() : new RecordingQueue();

  const app = buildApp({ registry, queue, logger: log, tls });
  let server: RunningServer;
  try {
    server = await serve(app, {
      host: config.host,
      port: config.port,
      tlsFiles: { certFile: config.tlsCertFile, keyFile: config.tlsKeyFile },
      tls,
      log,
    });
  } catch (error) {
    failStartup(listenProblem(error, config));
  }
  drainOnSignals(server, config, log);
}

await main();
