// Admission latency over keep-alive HTTPS, against two baselines measured in the same run:
//   healthz  — GET /healthz, a constant answer (TLS + HTTP + fastify routing only)
//   parse    — POST of the same AdmissionReview to a route that parses it and answers a constant
//   mutate   — POST /mutate: decode, decide, patch, enqueue, log, metrics
// The server runs in a worker thread so it has its own event loop; the client is this thread.
// Also times the pure core (decode → mutate → reviewFor) in a loop, without any I/O.
//
//   npm run bench -- --concurrency=8 --seconds=5 --requests=20000
import { once } from "node:events";
import { Agent, request } from "node:https";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { Registry } from "prom-client";
import { decodeReview, reviewFor } from "../src/core/admission.ts";
import { mutate } from "../src/core/mutate.ts";
import { buildApp } from "../src/http/app.ts";
import { serve } from "../src/http/server.ts";
import { readTlsMaterial, type TlsFiles } from "../src/http/tls.ts";
import { createLogger } from "../src/log.ts";
import { RecordingQueue } from "../src/reconcile/queue.ts";
import { admissionReview, deployment } from "../test/support/reviews.ts";
import { createCertificateAuthority, issueServingCertificate, makeTempDir } from "../test/support/tls.ts";

interface Options {
  concurrency: number;
  seconds: number;
  requests: number;
  warmup: number;
}

function options(argv: string[]): Options {
  const value = (name: string, fallback: number): number => {
    const arg = argv.find((a) => a.startsWith(`--${name}=`));
    const parsed = arg === undefined ? fallback : Number(arg.slice(name.length + 3));
    if (!Number.isFinite(parsed) || parsed <= 0) throw new Error(`--${name} must be a positive number`);
    return parsed;
  };
  return {
    concurrency: value("concurrency", 8),
    seconds: value("seconds", 5),
    requests: value("requests", 20_000),
    warmup: value("warmup", 500),
  };
}

// ---- server (worker thread) -------------------------------------------------------------------

async function runServer(files: TlsFiles): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error("runServer must run in a worker");
  // Info level into a sink: the per-admission log line is serialised as in production, not printed.
  const logger = createLogger("info", { write: () => {} });
  const registry = new Registry();
  const queue = new RecordingQueue();
  const tls = readTlsMaterial(files);
  const app = buildApp({ registry, queue, logger, tls });
  app.post("/bench/parse-only", async () => ({ ok: true }));
  const running = await serve(app, { host: "127.0.0.1", port: 0, tlsFiles: files, tls, log: logger });
  port.postMessage({ port: running.port });
  await once(port, "message");
  const metrics = await registry.getSingleMetricAsString("prepull_admission_duration_seconds");
  await running.close();
  port.postMessage({ metrics, queued: queue.received.length });
}

// ---- client (main thread) ---------------------------------------------------------------------

interface Phase {
  name: string;
  method: "GET" | "POST";
  path: string;
  body?: string;
}

interface Result {
  name: string;
  requests: number;
  seconds: number;
  p50: number;
  p99: number;
  max: number;
}

function send(agent: Agent, port: number, ca: string, phase: Phase): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        ca,
        agent,
        method: phase.method,
        path: phase.path,
        headers: phase.body === undefined ? {} : { "content-type": "application/json" },
      },
      (res) => {
        res.resume();
        res.on("end", () => {
          if (res.statusCode !== 200) reject(new Error(`${phase.path} answered ${res.statusCode}`));
          else resolve(performance.now() - started);
        });
      },
    );
    req.on("error", reject);
    req.end(phase.body);
  });
}

async function measure(phase: Phase, port: number, ca: string, opts: Options): Promise<Result> {
  const agent = new Agent({ keepAlive: true, maxSockets: opts.concurrency });
  const run = async (count: number, deadline: number, latencies: number[] | undefined): Promise<void> => {
    let issued = 0;
    const worker = async () => {
      while (issued < count && performance.now() < deadline) {
        issued++;
        const latency = await send(agent, port, ca, phase);
        latencies?.push(latency);
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency }, worker));
  };
  await run(opts.warmup, Number.POSITIVE_INFINITY, undefined);
  const latencies: number[] = [];
  const started = performance.now();
  await run(opts.requests, started + opts.seconds * 1000, latencies);
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { name: phase.name, requests: latencies.length, seconds, p50: at(0.5), p99: at(0.99), max: at(1) };
}

function coreOnly(body: string, iterations: number): number {
  const parsed: unknown = JSON.parse(body);
  const started = performance.now();
  for (let i = 0; i < iterations; i++) {
    const decoded = decodeReview(parsed);
    if (!decoded.ok) throw new Error(decoded.reason);
    reviewFor(decoded.request, mutate(decoded.request));
  }
  return ((performance.now() - started) * 1000) / iterations;
}

async function runClient(opts: Options): Promise<void> {
  const dir = makeTempDir("bench");
  const ca = await createCertificateAuthority(dir, "ca");
  const serving = await issueServingCertificate(ca, dir, "serving");
  const files = { certFile: serving.certFile, keyFile: serving.keyFile };
  const worker = new Worker(new URL(import.meta.url), { workerData: files });
  const [{ port }] = (await once(worker, "message")) as [{ port: number }];

  const body = JSON.stringify(admissionReview(deployment("bench", "shop"), { uid: "bench" }));
  const phases: Phase[] = [
    { name: "healthz (GET, constant)", method: "GET", path: "/healthz" },
    { name: "parse-only (POST, constant)", method: "POST", path: "/bench/parse-only", body },
    { name: "mutate (POST /mutate)", method: "POST", path: "/mutate", body },
  ];
  console.log(
    `node ${process.version}, body ${Buffer.byteLength(body)} bytes, concurrency ${opts.concurrency}, ` +
      `up to ${opts.requests} requests or ${opts.seconds} s per phase after ${opts.warmup} warm-up requests`,
  );
  const results: Result[] = [];
  for (const phase of phases) results.push(await measure(phase, port, ca.certPem, opts));

  worker.postMessage("stop");
  const [{ metrics, queued }] = (await once(worker, "message")) as [{ metrics: string; queued: number }];
  await worker.terminate();

  console.table(
    results.map((r) => ({
      phase: r.name,
      requests: r.requests,
      "req/s": Math.round(r.requests / r.seconds),
      "p50 ms": r.p50.toFixed(3),
      "p99 ms": r.p99.toFixed(3),
      "max ms": r.max.toFixed(3),
    })),
  );
  const [healthz, parseOnly, mutateResult] = results;
  if (healthz !== undefined && parseOnly !== undefined && mutateResult !== undefined) {
    const ratio = (a: number, b: number) => (a / b).toFixed(2);
    console.log(
      `mutate / healthz:    p50 ×${ratio(mutateResult.p50, healthz.p50)}, p99 ×${ratio(mutateResult.p99, healthz.p99)}, ` +
        `throughput ×${ratio(mutateResult.requests / mutateResult.seconds, healthz.requests / healthz.seconds)}`,
    );
    console.log(
      `mutate / parse-only: p50 ×${ratio(mutateResult.p50, parseOnly.p50)}, p99 ×${ratio(mutateResult.p99, parseOnly.p99)}, ` +
        `throughput ×${ratio(mutateResult.requests / mutateResult.seconds, parseOnly.requests / parseOnly.seconds)}`,
    );
  }
  const sum = Number(/_sum (\S+)/.exec(metrics)?.[1]);
  const count = Number(/_count (\S+)/.exec(metrics)?.[1]);
  console.log(
    `server-side handler time (histogram mean): ${((sum / count) * 1e6).toFixed(1)} µs over ${count}`,
  );
  console.log(
    `core only (decode → mutate → reviewFor, in-process): ${coreOnly(body, 20_000).toFixed(1)} µs/op`,
  );
  console.log(`reconcile requests recorded by the server: ${queued}`);
}

if (isMainThread) await runClient(options(process.argv.slice(2)));
else await runServer(workerData as TlsFiles);
