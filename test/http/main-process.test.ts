// The real entry point as a child process: runs on Node 24 from source, serves without a cluster
// (saying so once), and drains in-flight requests on SIGTERM before exiting 0.
import { once } from "node:events";
import { Agent, request } from "node:https";
import { connect as netConnect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { connectionRefused, postJson, waitFor } from "../support/https-client.ts";
import { type MainProcess, spawnMain } from "../support/main-process.ts";
import { admissionReview, deployment } from "../support/reviews.ts";
import { makeTempDir } from "../support/temp-dir.ts";
import { createCertificateAuthority, issueServingCertificate } from "../support/tls.ts";

let env: Record<string, string>;
let ca: string;
const started: MainProcess[] = [];

beforeAll(async () => {
  const dir = makeTempDir("main");
  const authority = await createCertificateAuthority(dir, "ca");
  const serving = await issueServingCertificate(authority, dir, "serving");
  ca = authority.certPem;
  env = {
    TLS_CERT_FILE: serving.certFile,
    TLS_KEY_FILE: serving.keyFile,
    HOST: "127.0.0.1",
    PORT: "0",
    METRICS_PORT: "0",
  };
});

afterEach(async () => {
  for (const main of started.splice(0)) {
    if (main.child.exitCode === null && main.child.signalCode === null) {
      main.child.kill("SIGKILL");
      await main.exited;
    }
  }
});

function start(extraEnv: Record<string, string> = {}): MainProcess {
  const main = spawnMain({ ...env, ...extraEnv });
  started.push(main);
  return main;
}

describe("node src/main.ts", () => {
  it("runs on Node 24 (the node@24 devDependency)", () => {
    expect(process.version).toMatch(/^v24\./);
  });

  it("without a cluster logs exactly one warning and serves admissions", async () => {
    const main = start();
    const port = await main.listeningPort();
    const reply = await postJson(port, ca, admissionReview(deployment(), { uid: "no-cluster" }));
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.text)).toMatchObject({ response: { uid: "no-cluster", allowed: true } });

    const warnings = main.logs.filter((line) => line.level >= 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.msg).toMatch(/^no Kubernetes API: KUBECONFIG is unset and this is not a pod/);
    expect(main.otherStdout).toEqual([]);
    expect(main.stderr()).toBe("");

    main.child.kill("SIGTERM");
    expect(await main.exited).toEqual({ code: 0, signal: null });
  });

  it("with an unusable KUBECONFIG names the file in its one warning and still serves", async () => {
    const main = start({ KUBECONFIG: "/nonexistent/kubeconfig" });
    const port = await main.listeningPort();
    expect((await postJson(port, ca, admissionReview(deployment()))).status).toBe(200);
    const warnings = main.logs.filter((line) => line.level >= 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.msg).toContain("KUBECONFIG file /nonexistent/kubeconfig is not usable");
    main.child.kill("SIGTERM");
    expect((await main.exited).code).toBe(0);
  });

  it("with PREPULL_RECONCILER=off serves admissions without looking for a Kubernetes API", async () => {
    const main = start({ KUBECONFIG: "/nonexistent/kubeconfig", PREPULL_RECONCILER: "off" });
    const port = await main.listeningPort();
    expect((await postJson(port, ca, admissionReview(deployment()))).status).toBe(200);
    // No KUBECONFIG warning: off means the API is never needed, so the file is never read.
    expect(main.logs.filter((line) => line.level >= 40)).toEqual([]);
    expect(main.logs.map((line) => line.msg)).toContain(
      "PREPULL_RECONCILER=off: serving admissions only; nothing is written to the cluster",
    );
    main.child.kill("SIGTERM");
    expect(await main.exited).toEqual({ code: 0, signal: null });
  });

  it("on SIGTERM finishes the in-flight request, refuses new connections and exits 0", async () => {
    const main = start();
    const port = await main.listeningPort();
    const body = JSON.stringify(admissionReview(deployment("in-flight"), { uid: "in-flight" }));
    const keepAlive = new Agent({ keepAlive: true });

    // Expect: 100-continue makes the server acknowledge the request head, so the request is
    // provably in flight (not an idle connection) before the signal arrives.
    const inFlight = request({
      host: "127.0.0.1",
      port,
      path: "/mutate",
      method: "POST",
      ca,
      agent: false,
      headers: {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(body),
        expect: "100-continue",
      },
    });
    const continued = new Promise<void>((resolve) => inFlight.on("continue", () => resolve()));
    const response = new Promise<{ status: number; connection: string | undefined; text: string }>(
      (resolve, reject) => {
        inFlight.on("error", reject);
        inFlight.on("response", (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            text += chunk;
          });
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, text }),
          );
        });
      },
    );
    inFlight.flushHeaders();
    await continued;

    main.child.kill("SIGTERM");
    await waitFor("the listener to close", () => connectionRefused(port));
    inFlight.end(body);

    const reply = await response;
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.text)).toMatchObject({ response: { uid: "in-flight", allowed: true } });
    expect(reply.connection).toBe("close");
    keepAlive.destroy();
    expect(await main.exited).toEqual({ code: 0, signal: null });
    expect(main.logs.map((line) => line.msg)).toEqual(
      expect.arrayContaining(["shutting down: draining in-flight requests", "stopped"]),
    );
    expect(main.logs.filter((line) => line.level >= 50)).toEqual([]);
  });

  // A client's spare connection (the apiserver's HTTP client dials ahead and keeps spares idle
  // for 90 s) carries no request: it must not hold the drain open until the deadline.
  it("on SIGTERM closes a connection that never sent a request and exits 0", async () => {
    const main = start({ SHUTDOWN_TIMEOUT_SECONDS: "5" });
    const port = await main.listeningPort();
    const spare = tlsConnect({ host: "127.0.0.1", port, ca, servername: "localhost" });
    await once(spare, "secureConnect");
    const closedByServer = once(spare, "close");

    main.child.kill("SIGTERM");
    expect(await main.exited).toEqual({ code: 0, signal: null });
    await closedByServer;
    expect(main.logs.filter((line) => line.level >= 50)).toEqual([]);
  });

  it("on SIGTERM also closes a spare connection whose TLS handshake ends after the signal", async () => {
    const main = start({ SHUTDOWN_TIMEOUT_SECONDS: "5" });
    const port = await main.listeningPort();
    const raw = netConnect({ host: "127.0.0.1", port });
    await once(raw, "connect");

    main.child.kill("SIGTERM");
    await waitFor("the listener to close", () => connectionRefused(port));
    const spare = tlsConnect({ socket: raw, ca, servername: "localhost" });
    const outcome = new Promise<string>((resolve) => {
      spare.on("secureConnect", () => resolve("handshake done"));
      spare.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    });
    expect(await main.exited).toEqual({ code: 0, signal: null });
    expect(await outcome).toBe("handshake done");
    expect(main.logs.filter((line) => line.level >= 50)).toEqual([]);
  });

  it("cuts a request that outlives SHUTDOWN_TIMEOUT_SECONDS and exits 1", async () => {
    const main = start({ SHUTDOWN_TIMEOUT_SECONDS: "0.5" });
    const port = await main.listeningPort();
    // The head arrives, the body never does: this request would hold the drain open forever.
    const stuck = request({
      host: "127.0.0.1",
      port,
      path: "/mutate",
      method: "POST",
      ca,
      agent: false,
      headers: { "content-type": "application/json", "content-length": 100, expect: "100-continue" },
    });
    const outcome = new Promise<string>((resolve) => {
      stuck.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      stuck.on("response", (res) => resolve(`status ${res.statusCode}`));
    });
    const continued = new Promise<void>((resolve) => stuck.on("continue", () => resolve()));
    stuck.flushHeaders();
    await continued;

    main.child.kill("SIGTERM");
    expect(await main.exited).toEqual({ code: 1, signal: null });
    expect(await outcome).toBe("ECONNRESET");
    expect(
      main.logs.some((line) => line.level === 50 && line.msg.startsWith("shutdown deadline passed")),
    ).toBe(true);
  });
});
