// The servers the bench compares, as processes: the control (bare fastify), prepull itself as
// `npm start` runs it, and the peers.
import { join } from "node:path";
import type { BenchCertificates } from "./support/certs.ts";
import { buildGo } from "./support/go-build.ts";
import type { Skipped } from "./support/report.ts";
import type { ServerSpec } from "./support/servers.ts";

export function controlSpec(
  repo: string,
  certs: BenchCertificates,
  logFile: string,
  scheme: "https" | "http",
): ServerSpec {
  return {
    name: scheme === "https" ? "bare fastify" : "bare fastify (HTTP)",
    command: process.execPath,
    args: [join(repo, "bench", "control", "bare-server.ts")],
    env: {
      TLS_CERT_FILE: certs.certFile,
      TLS_KEY_FILE: certs.keyFile,
      BARE_PLAIN: scheme === "http" ? "1" : "0",
    },
    scheme,
    mutatePath: "/mutate",
    readyPath: "/readyz",
    logFile,
  };
}

/** prepull as deployed: src/main.ts, info-level admission log lines written to a file. */
export function prepullSpec(repo: string, certs: BenchCertificates, logFile: string): ServerSpec {
  return {
    name: "prepull",
    command: process.execPath,
    args: [join(repo, "src", "main.ts")],
    env: {
      TLS_CERT_FILE: certs.certFile,
      TLS_KEY_FILE: certs.keyFile,
      HOST: "127.0.0.1",
      LOG_LEVEL: "info",
      PREPULL_RECONCILER: "off",
    },
    scheme: "https",
    mutatePath: "/mutate",
    readyPath: "/readyz",
    logFile,
  };
}

export async function controllerRuntimePeer(
  repo: string,
  certs: BenchCertificates,
  logFile: string,
): Promise<{ spec: ServerSpec } | { skipped: Skipped }> {
  let binary: string;
  try {
    binary = await buildGo(join(repo, "bench", "peers", "controller-runtime"), "controller-runtime-peer");
  } catch (error) {
    return {
      skipped: { what: "controller-runtime peer", why: (error as Error).message.split("\n")[0] ?? "" },
    };
  }
  return {
    spec: {
      name: "controller-runtime",
      command: binary,
      args: [],
      env: { CERT_DIR: certs.certDir },
      scheme: "https",
      mutatePath: "/mutate",
      readyPath: "/readyz",
      logFile,
    },
  };
}
