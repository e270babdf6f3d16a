import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { V1Container, V1Pod } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { freeLoopbackPort } from "../../scripts/cluster/ports.ts";
import { findManifest, renderChart } from "../support/helm.ts";
import { repoRoot } from "../support/kube-bin.ts";
import { view } from "./chart-objects.ts";

// The `helm test` pod's script, taken from the rendered chart and run with this machine's Node
// against the real prepull server, which serves a certificate for the Service's DNS name from
// certs/make-dev-certs.sh. Only where it connects changes (127.0.0.1 instead of the Service, with
// the Service's name for TLS verification); in a cluster the pod runs it unchanged.

const SERVICE_HOST = "prepull.prepull.svc";
let dir = "";
let port = 0;
let server: ChildProcess | undefined;
let serverOutput = "";

function certs(name: string): string {
  const out = join(dir, name);
  execFileSync("bash", [join(repoRoot, "certs/make-dev-certs.sh"), "--out", out], { stdio: "ignore" });
  return out;
}

function readyz(ca: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/readyz", ca, servername: SERVICE_HOST }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "prepull-helm-test-"));
  const serving = certs("serving");
  port = await freeLoopbackPort();
  server = spawn(process.execPath, [join(repoRoot, "src/main.ts")], {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH ?? "",
      HOST: "127.0.0.1",
      PORT: String(port),
      // /metrics on a port of its own choosing: a fixed one could be taken on a shared machine.
      METRICS_PORT: "0",
      TLS_CERT_FILE: join(serving, "tls.crt"),
      TLS_KEY_FILE: join(serving, "tls.key"),
      LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  server.stdout?.on("data", (chunk: Buffer) => {
    serverOutput += chunk.toString();
  });
  server.stderr?.on("data", (chunk: Buffer) => {
    serverOutput += chunk.toString();
  });
  const ca = readFileSync(join(serving, "ca.crt"));
  await vi.waitFor(async () => expect(await readyz(ca), serverOutput).toBe(200), {
    timeout: 30_000,
    interval: 100,
  });
}, 60_000);

afterAll(async () => {
  if (server && server.exitCode === null) {
    server.kill("SIGTERM");
    await once(server, "exit");
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function testContainer(values: Record<string, unknown>): V1Container {
  const pod = view<V1Pod>(findManifest(renderChart({ values }), "Pod"));
  const container = pod.spec?.containers[0];
  if (container === undefined) throw new Error("the helm test pod has no container");
  return container;
}

interface ScriptResult {
  code: number | null;
  output: string;
}

/** Runs the container's command with Node from node_modules in place of the image's /nodejs/bin/node. */
async function runScript(container: V1Container, env: Record<string, string>): Promise<ScriptResult> {
  const [node, ...nodeArgs] = container.command ?? [];
  expect(node).toBe("/nodejs/bin/node");
  const rendered = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value ?? ""]));
  const child = spawn(process.execPath, [...nodeArgs, ...(container.args ?? [])], {
    env: { PATH: process.env.PATH ?? "", ...rendered, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const [code] = (await once(child, "exit")) as [number | null];
  return { code, output };
}

const local = (): Record<string, string> => ({
  WEBHOOK_URL: `https://127.0.0.1:${port}/mutate`,
  WEBHOOK_SERVER_NAME: SERVICE_HOST,
});

describe("the helm test pod's script", () => {
  it("targets the Service's DNS name and the webhook path", () => {
    const env = new Map(testContainer({}).env?.map((e) => [e.name, e.value]));
    expect(env.get("WEBHOOK_URL")).toBe(`https://${SERVICE_HOST}:443/mutate`);
  });

  it("passes against the real server, verifying with the CA file cert-manager puts in the Secret", async () => {
    const result = await runScript(testContainer({}), {
      ...local(),
      WEBHOOK_CA_FILE: join(dir, "serving", "ca.crt"),
    });
    expect(result.output).toContain("webhook answered: allowed");
    expect(result.code, result.output).toBe(0);
  });

  it("passes with the caBundle value when installed without cert-manager", async () => {
    const caBundle = readFileSync(join(dir, "serving", "ca.crt")).toString("base64");
    const container = testContainer({
      tls: { certManager: { enabled: false }, secretName: "tls", caBundle },
    });
    const result = await runScript(container, local());
    expect(result.code, result.output).toBe(0);
  });

  it("fails when the server's certificate is not from the expected CA", async () => {
    const result = await runScript(testContainer({}), {
      ...local(),
      WEBHOOK_CA_FILE: join(certs("other"), "ca.crt"),
    });
    expect(result.code).toBe(1);
    expect(result.output).toMatch(/certificate/i);
  });

  it("fails when nothing answers", async () => {
    const closed = await freeLoopbackPort();
    const result = await runScript(testContainer({}), {
      WEBHOOK_URL: `https://127.0.0.1:${closed}/mutate`,
      WEBHOOK_SERVER_NAME: SERVICE_HOST,
      WEBHOOK_CA_FILE: join(dir, "serving", "ca.crt"),
    });
    expect(result.code).toBe(1);
    expect(result.output).toContain("ECONNREFUSED");
  });
});
