import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ConfigError, helpText, loadConfig, SETTINGS, settingsTable } from "../src/config.ts";
import { spawnMain } from "./support/main-process.ts";
import { createCertificateAuthority, issueServingCertificate, makeTempDir } from "./support/tls.ts";

let certFile: string;
let keyFile: string;
let otherKeyFile: string;
let directory: string;
let base: Record<string, string>;

beforeAll(() => {
  directory = makeTempDir("config");
  certFile = join(directory, "tls.crt");
  keyFile = join(directory, "tls.key");
  writeFileSync(certFile, "cert");
  writeFileSync(keyFile, "key");
  mkdirSync(join(directory, "a-directory"));
  base = { TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile };
});

function load(env: Record<string, string>, argv: string[] = []) {
  return loadConfig({ env: { ...base, ...env }, argv });
}

function problem(env: Record<string, string>, argv: string[] = []): string {
  try {
    load(env, argv);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("loadConfig", () => {
  it("applies the defaults", () => {
    expect(load({})).toEqual({
      port: 8443,
      host: "0.0.0.0",
      tlsCertFile: certFile,
      tlsKeyFile: keyFile,
      logLevel: "info",
      shutdownTimeoutSeconds: 10,
      kubeconfig: undefined,
      kubernetesServiceHost: undefined,
      podNamespace: "prepull",
    });
  });

  it("returns a frozen object", () => {
    expect(Object.isFrozen(load({}))).toBe(true);
  });

  it.each([
    [{ PORT: "0" }, [], "port", 0],
    [{ PORT: "65535" }, [], "port", 65535],
    [{ PORT: "" }, [], "port", 8443],
    [{ PORT: "9000" }, ["--port=9443"], "port", 9443],
    [{}, ["--port", "9444"], "port", 9444],
    [{ HOST: "::" }, [], "host", "::"],
    [{}, ["--host=127.0.0.1"], "host", "127.0.0.1"],
    [{ LOG_LEVEL: "DEBUG" }, [], "logLevel", "debug"],
    [{ SHUTDOWN_TIMEOUT_SECONDS: "2.5" }, [], "shutdownTimeoutSeconds", 2.5],
    [{ KUBECONFIG: "/home/me/.kube/config" }, [], "kubeconfig", "/home/me/.kube/config"],
    [{ KUBERNETES_SERVICE_HOST: "10.96.0.1" }, [], "kubernetesServiceHost", "10.96.0.1"],
    [{ POD_NAMESPACE: "tools" }, ["--pod-namespace=infra"], "podNamespace", "infra"],
  ] as const)("%j %j → %s = %j", (env, argv, key, value) => {
    expect(load(env, [...argv])[key]).toEqual(value);
  });

  it.each([
    [{ PORT: "abc" }, [], 'PORT: must be an integer from 0 to 65535, got "abc"'],
    [{ PORT: "70000" }, [], 'PORT: must be an integer from 0 to 65535, got "70000"'],
    [{ PORT: "-1" }, [], 'PORT: must be an integer from 0 to 65535, got "-1"'],
    [{ PORT: "80.5" }, [], 'PORT: must be an integer from 0 to 65535, got "80.5"'],
    [{}, ["--port=x"], 'PORT: must be an integer from 0 to 65535, got "x"'],
    [{ TLS_CERT_FILE: "" }, [], "TLS_CERT_FILE: must be set"],
    [
      { TLS_CERT_FILE: "/nonexistent/tls.crt" },
      [],
      "TLS_CERT_FILE: file /nonexistent/tls.crt does not exist",
    ],
    [{ TLS_KEY_FILE: "/nonexistent/tls.key" }, [], "TLS_KEY_FILE: file /nonexistent/tls.key does not exist"],
    [
      { LOG_LEVEL: "verbose" },
      [],
      'LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent, got "verbose"',
    ],
    [{ SHUTDOWN_TIMEOUT_SECONDS: "0" }, [], "SHUTDOWN_TIMEOUT_SECONDS: must be a number of seconds above 0"],
    [
      { SHUTDOWN_TIMEOUT_SECONDS: "soon" },
      [],
      "SHUTDOWN_TIMEOUT_SECONDS: must be a number of seconds above 0",
    ],
    [{ POD_NAMESPACE: "Prepull_NS" }, [], "POD_NAMESPACE: must be a Kubernetes namespace name"],
    [{ HOST: "local host" }, [], 'HOST: must be a hostname or IP address, got "local host"'],
    [{}, ["--bogus=1"], "--bogus=1: unknown argument; see --help"],
    [{}, ["--port"], "--port: needs a value"],
  ] as const)("%j %j → %s", (env, argv, message) => {
    const text = problem(env, [...argv]);
    expect(text.startsWith(message)).toBe(true);
    expect(text).not.toContain("\n");
  });

  it("refuses a directory where a file is expected", () => {
    expect(problem({ TLS_KEY_FILE: join(directory, "a-directory") })).toBe(
      `TLS_KEY_FILE: ${join(directory, "a-directory")} is not a regular file`,
    );
  });

  it("documents every setting once, with its flag, in the table and the help text", () => {
    const rows = settingsTable();
    expect(rows.map((row) => row.name)).toEqual(Object.values(SETTINGS).map((s) => s.name));
    expect(new Set(rows.map((row) => row.name)).size).toBe(rows.length);
    expect(rows.find((row) => row.name === "TLS_CERT_FILE")?.flag).toBe("--tls-cert-file");
    for (const row of rows) {
      expect(row.description.length).toBeGreaterThan(10);
      expect(helpText()).toContain(row.name);
    }
  });
});

describe("configuration errors in the real process", () => {
  beforeAll(() => {
    const ca = createCertificateAuthority(directory, "ca");
    const serving = issueServingCertificate(ca, directory, "serving");
    const other = issueServingCertificate(ca, directory, "other");
    certFile = serving.certFile;
    keyFile = serving.keyFile;
    otherKeyFile = other.keyFile;
  });

  async function runToExit(env: Record<string, string>, args: string[] = []) {
    const main = spawnMain({ HOST: "127.0.0.1", PORT: "0", ...env }, args);
    const exit = await main.exited;
    return { ...exit, stderr: main.stderr(), stdout: [...main.logs, ...main.otherStdout] };
  }

  it.each([
    [
      "a missing certificate file",
      { TLS_CERT_FILE: "/nonexistent/tls.crt" },
      /^TLS_CERT_FILE: file \/nonexistent\/tls\.crt does not exist\n$/,
    ],
    ["PORT=abc", { PORT: "abc" }, /^PORT: must be an integer from 0 to 65535, got "abc"\n$/],
    [
      "a key that does not match the certificate",
      { TLS_KEY_FILE: "OTHER_KEY" },
      /^TLS_CERT_FILE\/TLS_KEY_FILE: .* do not load as a pair: .*\n$/,
    ],
  ])("exits 1 with one stderr line for %s", async (_name, override, expected) => {
    const env = { TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile, ...override };
    if (env.TLS_KEY_FILE === "OTHER_KEY") env.TLS_KEY_FILE = otherKeyFile;
    const result = await runToExit(env);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(expected);
    expect(result.stderr.split("\n")).toHaveLength(2);
    expect(result.stdout).toEqual([]);
  });

  it("prints the settings for --help and exits 0", async () => {
    const result = await runToExit({}, ["--help"]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe("");
    expect(result.stdout.join("\n")).toContain("TLS_CERT_FILE (--tls-cert-file)");
  });
});
