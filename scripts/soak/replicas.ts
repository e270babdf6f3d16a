// The soak's prepull: two replicas of the real server (`node src/main.ts`, admission and
// reconciler), each with its own audited identity and serving certificate from one CA, behind a
// loopback TCP balancer that alternates connections between them, as a Service spreads the
// apiserver's connections over the pods.
import { type ChildProcess, spawn } from "node:child_process";
import { openSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createConnection, createServer, type Server } from "node:net";
import { join } from "node:path";
import { type ClusterPaths, REPO_ROOT } from "../cluster/paths.ts";
import { createCertificateAuthority, issueLoopbackServingCertificate } from "../cluster/pki.ts";
import { freeLoopbackPorts } from "../cluster/ports.ts";
import { get, isHealthy, type TlsClient, waitUntil } from "../cluster/probe.ts";
import { auditedKubeconfig } from "../faults/identities.ts";

interface SoakReplica {
  identity: string;
  pid: number;
  baseUrl: string;
  metrics(): Promise<string>;
  hasExited(): boolean;
  stop(): Promise<void>;
}

export interface SoakReplicas {
  replicas: SoakReplica[];
  /** https://127.0.0.1:<balancer port> */
  baseUrl: string;
  caBundle: string;
  stop(): Promise<void>;
}

export async function startSoakReplicas(
  paths: ClusterPaths,
  releaseNamespace: string,
  identities: readonly string[],
  logDir: string,
): Promise<SoakReplicas> {
  const dir = join(paths.root, "soak", releaseNamespace);
  const ca = await createCertificateAuthority(dir, "ca", "prepull-soak-ca");
  const caPem = await readFile(ca.cert);
  const tls: TlsClient = { ca: caPem };
  const replicas: SoakReplica[] = [];
  for (const identity of identities) {
    const serving = await issueLoopbackServingCertificate(ca, dir, identity, identity);
    // /metrics on its own port per replica (the default, 8444, would be taken by the first), and
    // open: the sampler scrapes it on loopback without a token.
    const [port, metricsPort] = (await freeLoopbackPorts(2)) as [number, number];
    const kubeconfig = await auditedKubeconfig(paths, identity);
    const log = openSync(join(logDir, `${identity}.log`), "a");
    const child: ChildProcess = spawn(
      process.execPath,
      [
        join(REPO_ROOT, "src", "main.ts"),
        "--host=127.0.0.1",
        `--port=${port}`,
        `--tls-cert-file=${serving.cert}`,
        `--tls-key-file=${serving.key}`,
        `--kubeconfig=${kubeconfig}`,
        `--pod-namespace=${releaseNamespace}`,
        "--prepull-reconciler=on",
        "--log-level=info",
      ],
      {
        env: { ...process.env, POD_NAME: identity, METRICS_PORT: String(metricsPort), METRICS_AUTH: "off" },
        stdio: ["ignore", log, log],
      },
    );
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    const baseUrl = `https://127.0.0.1:${port}`;
    const hasExited = () => child.exitCode !== null || child.signalCode !== null;
    await waitUntil(async () => ((await isHealthy(`${baseUrl}/readyz`, tls)) ? true : undefined), {
      what: `${identity} to answer /readyz (log: ${join(logDir, `${identity}.log`)})`,
      timeoutMs: 30_000,
      stillPossible: async () => {
        if (hasExited()) throw new Error(`${identity} exited during start-up; see ${logDir}`);
      },
    });
    replicas.push({
      identity,
      pid: child.pid ?? 0,
      baseUrl,
      hasExited,
      metrics: async () => {
        const response = await get(`https://127.0.0.1:${metricsPort}/metrics`, tls, 10_000);
        if (response.status !== 200) throw new Error(`${identity} /metrics answered ${response.status}`);
        return response.body;
      },
      stop: async () => {
        if (!hasExited()) child.kill("SIGTERM");
        await exited;
      },
    });
  }
  const balancer = await roundRobin(replicas.map((r) => Number(new URL(r.baseUrl).port)));
  const address = balancer.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    replicas,
    baseUrl: `https://127.0.0.1:${port}`,
    caBundle: caPem.toString("base64"),
    stop: async () => {
      balancer.close();
      await Promise.all(replicas.map((r) => r.stop()));
    },
  };
}

/** A TCP balancer: each new connection goes to the next backend (TLS passes through untouched). */
async function roundRobin(ports: readonly number[]): Promise<Server> {
  let next = 0;
  const server = createServer((client) => {
    const port = ports[next++ % ports.length] ?? 0;
    const backend = createConnection({ host: "127.0.0.1", port });
    client.pipe(backend).pipe(client);
    client.on("error", () => backend.destroy());
    backend.on("error", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}
