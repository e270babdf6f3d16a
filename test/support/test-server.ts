// The real app on loopback with a generated certificate, as tests and the bench use it.
import { rmSync } from "node:fs";
import { Agent } from "node:https";
import { Registry } from "prom-client";
import { buildApp } from "../../src/http/app.ts";
import type { App } from "../../src/http/fastify-app.ts";
import { type RunningServer, serve } from "../../src/http/server.ts";
import { readTlsMaterial, type TlsFiles } from "../../src/http/tls.ts";
import { createLogger } from "../../src/log.ts";
import { RecordingQueue } from "../../src/reconcile/queue.ts";
import { makeTempDir } from "./temp-dir.ts";
import { createCertificateAuthority, issueServingCertificate } from "./tls.ts";

export type LogRecord = { level: number; msg: string } & Record<string, unknown>;

export interface TestServer {
  app: App;
  running: RunningServer;
  port: number;
  queue: RecordingQueue;
  registry: Registry;
  /** Every log line the app wrote, parsed. */
  logs: LogRecord[];
  close(): Promise<void>;
}

export interface TestServerOptions {
  tlsFiles: TlsFiles;
  tlsPollIntervalMs?: number;
  /** "silent" for the bench, so logging cost does not hide in the numbers unless asked for. */
  logLevel?: "info" | "silent";
}

export async function startTestServer(options: TestServerOptions): Promise<TestServer> {
  const logs: LogRecord[] = [];
  const logger = createLogger(options.logLevel ?? "info", {
    write(line: string) {
      logs.push(JSON.parse(line) as LogRecord);
    },
  });
  const queue = new RecordingQueue();
  const registry = new Registry();
  const tls = readTlsMaterial(options.tlsFiles);
  const app = buildApp({ registry, queue, logger, tls });
  const running = await serve(app, {
    host: "127.0.0.1",
    port: 0,
    tlsFiles: options.tlsFiles,
    tls,
    log: logger,
    tlsPollIntervalMs: options.tlsPollIntervalMs,
  });
  return { app, running, port: running.port, queue, registry, logs, close: () => running.close() };
}

export interface TrustedTestServer {
  server: TestServer;
  /** PEM of the CA that signed the server's certificate. */
  ca: string;
  /** A keep-alive agent: one connection carries the tests' requests, as with the apiserver. */
  agent: Agent;
  close(): Promise<void>;
}

/** The app on loopback with a throwaway CA and serving certificate, plus a keep-alive client agent. */
export async function startTrustedTestServer(name: string): Promise<TrustedTestServer> {
  const dir = makeTempDir(name);
  const authority = await createCertificateAuthority(dir, "ca");
  const serving = await issueServingCertificate(authority, dir, "serving");
  const agent = new Agent({ keepAlive: true });
  const server = await startTestServer({
    tlsFiles: { certFile: serving.certFile, keyFile: serving.keyFile },
  });
  return {
    server,
    ca: authority.certPem,
    agent,
    async close() {
      agent.destroy();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
