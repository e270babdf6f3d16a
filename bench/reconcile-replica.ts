// One reconciler replica as its own process, without the admission server: for benchmarks and
// for the failover tests, which need a process they can SIGKILL mid-burst.
//
//   KUBECONFIG=... REPLICA_SETTINGS='<ReconcilerSettings as JSON>' node bench/reconcile-replica.ts
//
// Prints one line `metrics http://127.0.0.1:<port>/metrics` once listening (GET /state answers
// {"ready":bool,"leader":bool}, GET /heap process.memoryUsage() after a collection); SIGTERM stops the reconciler (releasing the lease) and exits.
import { createServer } from "node:http";
import { KubeConfig } from "@kubernetes/client-node";
import { Registry } from "prom-client";
import { isJsonObject } from "../src/core/workload.ts";
import { createLogger } from "../src/log.ts";
import type { ReconcilerSettings } from "../src/reconcile/settings.ts";
import { startReconciler } from "../src/reconcile/start.ts";

function settingsFromEnv(): ReconcilerSettings {
  const raw = process.env.REPLICA_SETTINGS;
  if (raw === undefined) throw new Error("REPLICA_SETTINGS is required (ReconcilerSettings as JSON)");
  const parsed: unknown = JSON.parse(raw);
  // A bench tool fed by our own tests: check the shape's outline, trust the rest.
  if (!isJsonObject(parsed) || !isJsonObject(parsed.prepull) || !isJsonObject(parsed.leaderElection)) {
    throw new Error("REPLICA_SETTINGS must be a ReconcilerSettings object");
  }
  return parsed as unknown as ReconcilerSettings;
}

const kubeconfig = process.env.KUBECONFIG;
if (kubeconfig === undefined) throw new Error("KUBECONFIG is required");
const kubeConfig = new KubeConfig();
kubeConfig.loadFromFile(kubeconfig);
const settings = settingsFromEnv();
const logger = createLogger(process.env.LOG_LEVEL === "debug" ? "debug" : "info", process.stderr);
const registry = new Registry();
const reconciler = await startReconciler({ kubeConfig, settings, registry, logger });

const server = createServer((request, response) => {
  if (request.url === "/metrics") {
    registry.metrics().then(
      (text) => response.writeHead(200, { "content-type": registry.contentType }).end(text),
      (error: unknown) => response.writeHead(500).end(String(error)),
    );
    return;
  }
  if (request.url === "/heap") {
    // After a full collection when the replica runs with --expose-gc: live memory, not garbage
    // the last burst left for a later collection.
    (globalThis as { gc?: () => void }).gc?.();
    response
      .writeHead(200, { "content-type": "application/json" })
      .end(JSON.stringify(process.memoryUsage()));
    return;
  }
  if (request.url === "/state") {
    response
      .writeHead(200, { "content-type": "application/json" })
      .end(JSON.stringify({ ready: reconciler.ready(), leader: reconciler.isLeader() }));
    return;
  }
  response.writeHead(404).end();
});
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  process.stdout.write(`metrics http://127.0.0.1:${port}/metrics\n`);
});

process.once("SIGTERM", () => {
  reconciler.stop().then(
    () => {
      server.close();
      process.exit(0);
    },
    (error: unknown) => {
      logger.error({ err: error }, "stop failed");
      process.exit(1);
    },
  );
});
