import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { DEFAULT_SLEEPER_IMAGE, helpText, loadConfig, SETTINGS, settingsTable } from "../src/config.ts";
import { ConfigError } from "../src/config-parsers.ts";
import { spawnMain } from "./support/main-process.ts";
import { makeTempDir } from "./support/temp-dir.ts";
import { createCertificateAuthority, issueServingCertificate } from "./support/tls.ts";

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
      metricsPort: 8444,
      metricsAuth: true,
      metricsImageNames: false,
      host: "0.0.0.0",
      tlsCertFile: certFile,
      tlsKeyFile: keyFile,
      logLevel: "info",
      shutdownTimeoutSeconds: 10,
      kubeconfig: undefined,
      kubernetesServiceHost: undefined,
      podNamespace: "prepull",
      podName: undefined,
      reconciler: true,
      excludedNamespaces: [],
      clusterDefault: false,
      resyncSeconds: 300,
      maxImagesPerDaemonSet: 100,
      maxUnavailable: "100%",
      mirrorPullSecrets: false,
      toleratedTaints: ["*"],
      neverToleratedTaints: ["node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"],
      priorityClassName: undefined,
      sleeperImage: "ghcr.io/prepull/prepull:0.1.0",
      sleeperPath: "/usr/local/bin/prepull-sleep",
      sleeperPullSecrets: [],
      podCpu: "1m",
      podMemory: "16Mi",
      containerCpu: "100m",
      containerMemory: "32Mi",
      leaseDurationSeconds: 15,
      leaseRenewSeconds: 5,
      uninstall: false,
      nodeGate: false,
      nodeGateTaint: "prepull.dev/not-ready",
      nodeGateTaintEffect: "NoSchedule",
      nodeGateDeadlineSeconds: 900,
    });
  });

  it("reads what the chart renders: empty values count as unset", () => {
    const config = load({
      POD_NAME: "prepull-7d9f-abcde",
      PREPULL_MAX_IMAGES_PER_DAEMONSET: "100",
      PREPULL_MAX_UNAVAILABLE: "100%",
      PREPULL_MIRROR_PULL_SECRETS: "false",
      PREPULL_EXCLUDED_NAMESPACES: "",
      PREPULL_RESYNC_SECONDS: "300",
      PREPULL_PRIORITY_CLASS_NAME: "",
      PREPULL_SLEEPER_IMAGE: "ghcr.io/prepull/prepull:0.1.0",
      PREPULL_SLEEPER_PULL_SECRETS: "",
    });
    expect(config).toMatchObject({
      podName: "prepull-7d9f-abcde",
      excludedNamespaces: [],
      clusterDefault: false,
      priorityClassName: undefined,
      sleeperPullSecrets: [],
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
    [{ PREPULL_RECONCILER: "off" }, [], "reconciler", false],
    [{ PREPULL_RECONCILER: "OFF" }, [], "reconciler", false],
    [{}, ["--prepull-reconciler=on"], "reconciler", true],
    [{ PREPULL_EXCLUDED_NAMESPACES: "ci, tools,,ci" }, [], "excludedNamespaces", ["ci", "tools"]],
    [{ PREPULL_RESYNC_SECONDS: "60" }, [], "resyncSeconds", 60],
    [{ PREPULL_MAX_IMAGES_PER_DAEMONSET: "5" }, [], "maxImagesPerDaemonSet", 5],
    [{ PREPULL_MAX_UNAVAILABLE: "3" }, [], "maxUnavailable", "3"],
    [{ PREPULL_MAX_UNAVAILABLE: "1%" }, [], "maxUnavailable", "1%"],
    [{ PREPULL_MAX_UNAVAILABLE: "25%" }, [], "maxUnavailable", "25%"],
    [{ PREPULL_MIRROR_PULL_SECRETS: "true" }, [], "mirrorPullSecrets", true],
    [{ PREPULL_MIRROR_PULL_SECRETS: "False" }, [], "mirrorPullSecrets", false],
    [{ PREPULL_PRIORITY_CLASS_NAME: "prepull-daemonset" }, [], "priorityClassName", "prepull-daemonset"],
    [
      { PREPULL_SLEEPER_IMAGE: `registry.local:5000/p/p@sha256:${"a".repeat(64)}` },
      [],
      "sleeperImage",
      `registry.local:5000/p/p@sha256:${"a".repeat(64)}`,
    ],
    [{ PREPULL_SLEEPER_PATH: "/prepull-sleep" }, [], "sleeperPath", "/prepull-sleep"],
    [
      { PREPULL_SLEEPER_PULL_SECRETS: "ghcr,quay.io-creds" },
      [],
      "sleeperPullSecrets",
      ["ghcr", "quay.io-creds"],
    ],
    [
      { PREPULL_TOLERATED_TAINTS: "nvidia.com/gpu, dedicated" },
      [],
      "toleratedTaints",
      ["nvidia.com/gpu", "dedicated"],
    ],
    [
      { PREPULL_NEVER_TOLERATED_TAINTS: "example.com/secure" },
      [],
      "neverToleratedTaints",
      ["example.com/secure"],
    ],
    [{ METRICS_PORT: "9090" }, [], "metricsPort", 9090],
    [{ METRICS_AUTH: "off" }, [], "metricsAuth", false],
    [{ PREPULL_METRICS_IMAGE_NAMES: "true" }, [], "metricsImageNames", true],
    // Stored the way the apiserver stores quantities, so written DaemonSets compare equal.
    [{ PREPULL_CONTAINER_CPU: "0.005" }, [], "containerCpu", "5m"],
    [{ PREPULL_CONTAINER_CPU: "0.1" }, [], "containerCpu", "100m"],
    [{ PREPULL_CONTAINER_MEMORY: "1024Mi" }, [], "containerMemory", "1Gi"],
    [{ PREPULL_POD_MEMORY: "0.5Gi", PREPULL_CONTAINER_MEMORY: "1Gi" }, [], "podMemory", "512Mi"],
    [{ PREPULL_POD_CPU: "5m" }, [], "podCpu", "5m"],
    [{ PREPULL_CONTAINER_CPU: "10m" }, [], "containerCpu", "10m"],
    [{ PREPULL_CONTAINER_MEMORY: "64M" }, [], "containerMemory", "64M"],
    [
      { PREPULL_LEASE_DURATION_SECONDS: "6", PREPULL_LEASE_RENEW_SECONDS: "2" },
      [],
      "leaseDurationSeconds",
      6,
    ],
    [{ PREPULL_LEASE_DURATION_SECONDS: "6", PREPULL_LEASE_RENEW_SECONDS: "2" }, [], "leaseRenewSeconds", 2],
    [{ PREPULL_NODE_GATE: "on" }, [], "nodeGate", true],
    [
      { PREPULL_NODE_GATE_TAINT: "ignore-taint.cluster-autoscaler.kubernetes.io/prepull" },
      [],
      "nodeGateTaint",
      "ignore-taint.cluster-autoscaler.kubernetes.io/prepull",
    ],
    [{ PREPULL_NODE_GATE_TAINT: "images-pending" }, [], "nodeGateTaint", "images-pending"],
    [{ PREPULL_NODE_GATE_TAINT_EFFECT: "NoExecute" }, [], "nodeGateTaintEffect", "NoExecute"],
    [{ PREPULL_NODE_GATE_DEADLINE_SECONDS: "60" }, [], "nodeGateDeadlineSeconds", 60],
    [{}, [], "uninstall", false],
    [{ PREPULL_UNINSTALL: "on" }, [], "uninstall", true],
    // The post-delete hook serves nothing: no serving certificate needed.
    [{ PREPULL_UNINSTALL: "on", TLS_CERT_FILE: "", TLS_KEY_FILE: "" }, [], "tlsCertFile", undefined],
    [{ TLS_KEY_FILE: "" }, ["--prepull-uninstall=on"], "tlsKeyFile", undefined],
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
    [{ TLS_KEY_FILE: "" }, [], "TLS_KEY_FILE: must be set"],
    [{ TLS_KEY_FILE: "" }, ["--prepull-uninstall=off"], "TLS_KEY_FILE: must be set"],
    [{ PREPULL_UNINSTALL: "yes" }, [], 'PREPULL_UNINSTALL: must be on or off, got "yes"'],
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
    [{ PREPULL_RECONCILER: "yes" }, [], 'PREPULL_RECONCILER: must be on or off, got "yes"'],
    [
      { PREPULL_EXCLUDED_NAMESPACES: "ci,Tools" },
      [],
      'PREPULL_EXCLUDED_NAMESPACES: must be a comma-separated list of namespace names, got "Tools"',
    ],
    [{ PREPULL_RESYNC_SECONDS: "0" }, [], "PREPULL_RESYNC_SECONDS: must be a number of seconds above 0"],
    [{ PREPULL_RESYNC_SECONDS: "-5" }, [], "PREPULL_RESYNC_SECONDS: must be a number of seconds above 0"],
    [
      { PREPULL_MAX_IMAGES_PER_DAEMONSET: "-1" },
      [],
      'PREPULL_MAX_IMAGES_PER_DAEMONSET: must be an integer from 1 to 250, got "-1"',
    ],
    [
      { PREPULL_MAX_IMAGES_PER_DAEMONSET: "2.5" },
      [],
      'PREPULL_MAX_IMAGES_PER_DAEMONSET: must be an integer from 1 to 250, got "2.5"',
    ],
    // 0 no longer means unlimited: one DaemonSet of thousands of images passes etcd's 1.5 MiB.
    [
      { PREPULL_MAX_IMAGES_PER_DAEMONSET: "0" },
      [],
      'PREPULL_MAX_IMAGES_PER_DAEMONSET: must be an integer from 1 to 250, got "0"',
    ],
    [
      { PREPULL_MAX_IMAGES_PER_DAEMONSET: "251" },
      [],
      'PREPULL_MAX_IMAGES_PER_DAEMONSET: must be an integer from 1 to 250, got "251"',
    ],
    [
      { PREPULL_POD_MEMORY: "64Mi" },
      [],
      "PREPULL_POD_MEMORY: must be at most PREPULL_CONTAINER_MEMORY (32Mi), got 64Mi",
    ],
    [
      { PREPULL_POD_CPU: "0.5", PREPULL_CONTAINER_CPU: "200m" },
      [],
      "PREPULL_POD_CPU: must be at most PREPULL_CONTAINER_CPU (200m), got 500m",
    ],
    ...["0", "0%", "-1", "-10%", "101%", "50.5%", "1.5", "all", "00%", "01"].map(
      (value) =>
        [
          { PREPULL_MAX_UNAVAILABLE: value },
          [],
          `PREPULL_MAX_UNAVAILABLE: must be a count of at least 1 or a percentage from 1% to 100%, got ${JSON.stringify(value)}`,
        ] as const,
    ),
    [{ PREPULL_MIRROR_PULL_SECRETS: "1" }, [], 'PREPULL_MIRROR_PULL_SECRETS: must be true or false, got "1"'],
    [
      { PREPULL_PRIORITY_CLASS_NAME: "Low_Priority" },
      [],
      'PREPULL_PRIORITY_CLASS_NAME: must be a PriorityClass name (RFC 1123 subdomain), got "Low_Priority"',
    ],
    [
      { PREPULL_SLEEPER_IMAGE: "ghcr.io/Prepull/prepull:1" },
      [],
      "PREPULL_SLEEPER_IMAGE: must be an image reference (repository name must be lowercase)",
    ],
    [
      { PREPULL_SLEEPER_PATH: "prepull-sleep" },
      [],
      'PREPULL_SLEEPER_PATH: must be an absolute path without spaces, got "prepull-sleep"',
    ],
    [{ METRICS_PORT: "8443" }, [], "METRICS_PORT: must differ from PORT (8443)"],
    [{ METRICS_AUTH: "yes" }, [], 'METRICS_AUTH: must be on or off, got "yes"'],
    [
      { PREPULL_TOLERATED_TAINTS: "nvidia.com/gpu,a b" },
      [],
      'PREPULL_TOLERATED_TAINTS: must be a comma-separated list of taint keys or "*", got "a b"',
    ],
    [
      { PREPULL_NEVER_TOLERATED_TAINTS: "*" },
      [],
      'PREPULL_NEVER_TOLERATED_TAINTS: must be a comma-separated list of taint keys, got "*"',
    ],
    [
      { PREPULL_SLEEPER_PULL_SECRETS: "ok,not ok" },
      [],
      'PREPULL_SLEEPER_PULL_SECRETS: must be a comma-separated list of Secret names, got "not ok"',
    ],
    ...["0", "0m", "-1m", "1x", "1e3", "m", "1.m", "0.0001"].map(
      (value) =>
        [
          { PREPULL_CONTAINER_CPU: value },
          [],
          `PREPULL_CONTAINER_CPU: must be a cpu quantity above 0 such as "1m" or "0.01", got ${JSON.stringify(value)}`,
        ] as const,
    ),
    ...["0Mi", "8MB", "8m", "-8Mi", "eight"].map(
      (value) =>
        [
          { PREPULL_CONTAINER_MEMORY: value },
          [],
          `PREPULL_CONTAINER_MEMORY: must be a memory quantity above 0 such as "8Mi" or "16M", got ${JSON.stringify(value)}`,
        ] as const,
    ),
    [
      { PREPULL_LEASE_DURATION_SECONDS: "0" },
      [],
      'PREPULL_LEASE_DURATION_SECONDS: must be an integer from 1 to 3600, got "0"',
    ],
    [
      { PREPULL_LEASE_RENEW_SECONDS: "1.5" },
      [],
      'PREPULL_LEASE_RENEW_SECONDS: must be an integer from 1 to 3600, got "1.5"',
    ],
    [
      { PREPULL_LEASE_RENEW_SECONDS: "15" },
      [],
      "PREPULL_LEASE_RENEW_SECONDS: must be below PREPULL_LEASE_DURATION_SECONDS (15), got 15",
    ],
    [
      { PREPULL_LEASE_DURATION_SECONDS: "4" },
      [],
      "PREPULL_LEASE_RENEW_SECONDS: must be below PREPULL_LEASE_DURATION_SECONDS (4), got 5",
    ],
    [{ PREPULL_NODE_GATE: "true" }, [], 'PREPULL_NODE_GATE: must be on or off, got "true"'],
    [
      { PREPULL_NODE_GATE: "on", PREPULL_RECONCILER: "off" },
      [],
      "PREPULL_NODE_GATE: on needs PREPULL_RECONCILER=on",
    ],
    ...[
      "Prepull.dev/not-ready",
      "prepull.dev/",
      "/not-ready",
      "prepull.dev/not ready",
      `p/${"a".repeat(64)}`,
    ].map(
      (value) =>
        [
          { PREPULL_NODE_GATE_TAINT: value },
          [],
          `PREPULL_NODE_GATE_TAINT: must be a taint key such as "prepull.dev/not-ready"`,
        ] as const,
    ),
    [
      { PREPULL_NODE_GATE_TAINT_EFFECT: "PreferNoSchedule" },
      [],
      'PREPULL_NODE_GATE_TAINT_EFFECT: must be NoSchedule or NoExecute, got "PreferNoSchedule"',
    ],
    [
      { PREPULL_NODE_GATE_DEADLINE_SECONDS: "0" },
      [],
      'PREPULL_NODE_GATE_DEADLINE_SECONDS: must be an integer from 1 to 86400, got "0"',
    ],
    [{}, ["--bogus=1"], "--bogus=1: unknown argument; see --help"],
    [{}, ["--bogus", "1"], "--bogus: unknown argument; see --help"],
    [{}, ["-p", "1"], "-p: unknown argument; see --help"],
    [{}, ["serve"], "serve: unknown argument; see --help"],
    [{}, ["--port", "1", "--", "x"], "--: unknown argument; see --help"],
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

  it("defaults PREPULL_SLEEPER_IMAGE to the chart's default image", () => {
    const chart = join(import.meta.dirname, "..", "charts", "prepull");
    const values = parse(readFileSync(join(chart, "values.yaml"), "utf8")) as {
      image: { repository: string; tag: string; digest: string };
    };
    const { appVersion } = parse(readFileSync(join(chart, "Chart.yaml"), "utf8")) as { appVersion: string };
    // The chart's prepull.image helper: repository, then the digest, or the tag, or appVersion.
    expect(values.image.digest).toBe("");
    expect(DEFAULT_SLEEPER_IMAGE).toBe(`${values.image.repository}:${values.image.tag || appVersion}`);
    expect(SETTINGS.sleeperImage.default).toBe(DEFAULT_SLEEPER_IMAGE);
  });

  it("defaults PREPULL_SLEEPER_PATH to where the Dockerfile puts the no-op binary", () => {
    const dockerfile = readFileSync(join(import.meta.dirname, "..", "Dockerfile"), "utf8");
    expect(dockerfile).toContain(`COPY --from=sleeper /out/prepull-sleep ${SETTINGS.sleeperPath.default}\n`);
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
  beforeAll(async () => {
    const ca = await createCertificateAuthority(directory, "ca");
    const serving = await issueServingCertificate(ca, directory, "serving");
    const other = await issueServingCertificate(ca, directory, "other");
    certFile = serving.certFile;
    keyFile = serving.keyFile;
    otherKeyFile = other.keyFile;
  });

  async function runToExit(env: Record<string, string>, args: string[] = []) {
    const main = spawnMain({ HOST: "127.0.0.1", PORT: "0", METRICS_PORT: "0", ...env }, args);
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
