// /metrics on its own HTTPS server, on loopback: open, or behind an authorizer that stands in for
// the apiserver's TokenReview and SubjectAccessReview (the real ones: test/e2e/metrics-auth.test.ts).
import { rmSync } from "node:fs";
import { Counter, Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildMetricsApp } from "../../src/http/metrics-app.ts";
import type { TokenAuthorizer } from "../../src/http/metrics-auth.ts";
import { type RunningServer, serve } from "../../src/http/server.ts";
import { readTlsMaterial } from "../../src/http/tls.ts";
import { createLogger } from "../../src/log.ts";
import { send } from "../support/https-client.ts";
import { makeTempDir } from "../support/temp-dir.ts";
import { createCertificateAuthority, issueServingCertificate } from "../support/tls.ts";

let dir: string;
let ca: string;
let certFile: string;
let keyFile: string;

beforeAll(async () => {
  dir = makeTempDir("metrics-app");
  const authority = await createCertificateAuthority(dir, "ca");
  const serving = await issueServingCertificate(authority, dir, "serving");
  ca = authority.certPem;
  ({ certFile, keyFile } = serving);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function start(authorize: TokenAuthorizer | undefined): Promise<RunningServer> {
  const registry = new Registry();
  new Counter({ name: "probe_total", help: "a probe", registers: [registry] }).inc();
  const logger = createLogger("silent");
  const tls = readTlsMaterial({ certFile, keyFile });
  const app = buildMetricsApp({ registry, logger, tls, authorize });
  return serve(app, { host: "127.0.0.1", port: 0, tlsFiles: { certFile, keyFile }, tls, log: logger });
}

describe("the metrics app with an authorizer", () => {
  let server: RunningServer;
  const asked: string[] = [];
  beforeAll(async () => {
    server = await start(async (token) => {
      asked.push(token);
      if (token === "down") throw new Error("apiserver unreachable");
      return token === "prometheus" ? "allowed" : token === "tenant" ? "forbidden" : "unauthenticated";
    });
  });
  afterAll(() => server.close());

  const get = (headers: Record<string, string> = {}) =>
    send({ port: server.port, ca, path: "/metrics", headers });

  it("refuses a request without a token: 401 with a Bearer challenge, and asks nobody", async () => {
    const reply = await get();
    expect(reply.status).toBe(401);
    expect(reply.headers["www-authenticate"]).toBe('Bearer realm="prepull metrics"');
    expect(reply.text).not.toContain("probe_total");
    expect(asked).toEqual([]);
  });

  it.each([
    ["an unknown token", "forged", 401],
    ["an authenticated user without the grant", "tenant", 403],
    ["a failure to decide", "down", 503],
  ])("refuses %s with %i", async (_what, token, status) => {
    const reply = await get({ authorization: `Bearer ${token}` });
    expect(reply.status).toBe(status);
    expect(reply.text).not.toContain("probe_total");
  });

  it("serves an allowed caller", async () => {
    const reply = await get({ authorization: "Bearer prometheus" });
    expect(reply.status).toBe(200);
    expect(reply.headers["content-type"]).toMatch(/^text\/plain/);
    expect(reply.text).toMatch(/^probe_total 1$/m);
  });

  it("serves nothing else", async () => {
    expect((await send({ port: server.port, ca, path: "/mutate", method: "POST" })).status).toBe(404);
  });
});

describe("the metrics app without an authorizer", () => {
  it("serves anyone", async () => {
    const server = await start(undefined);
    try {
      const reply = await send({ port: server.port, ca, path: "/metrics" });
      expect(reply.status).toBe(200);
      expect(reply.text).toMatch(/^probe_total 1$/m);
    } finally {
      await server.close();
    }
  });
});
