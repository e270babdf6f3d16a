// The only reader of the environment and of command-line flags. Everything else receives a Config.
// Each setting is one entry in SETTINGS: its name, default, description and a parser that either
// returns the typed value or throws a ConfigError whose message is one line naming the setting.
import { statSync } from "node:fs";
import { parseImageReference } from "./core/images.ts";
import {
  AUTOSCALER_IGNORED_TAINT_PREFIX,
  DEFAULT_GATE_TAINT_KEY,
  type GateTaintEffect,
} from "./core/node-gate.ts";
import { canonicalQuantity, compareQuantities } from "./core/quantity.ts";

/** A configuration problem, reported as one line that starts with the setting's name. */
export class ConfigError extends Error {
  readonly setting: string;

  constructor(setting: string, problem: string) {
    super(`${setting}: ${problem}`);
    this.name = "ConfigError";
    this.setting = setting;
  }
}

interface Setting<T> {
  /** Environment variable; the flag is derived from it (PORT → --port). */
  name: string;
  /** Raw default, as it would be written in the environment; undefined means unset. */
  default: string | undefined;
  description: string;
  parse(raw: string | undefined, name: string): T;
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

function required(raw: string | undefined, name: string): string {
  if (raw === undefined || raw === "") throw new ConfigError(name, "must be set");
  return raw;
}

function nonEmpty(raw: string | undefined): string | undefined {
  return raw === undefined || raw === "" ? undefined : raw;
}

function port(raw: string | undefined, name: string): number {
  const text = required(raw, name);
  const value = Number(text);
  if (!/^\d+$/.test(text) || value > 65535) {
    throw new ConfigError(name, `must be an integer from 0 to 65535, got ${JSON.stringify(text)}`);
  }
  return value;
}

function positiveSeconds(max: number) {
  return (raw: string | undefined, name: string): number => {
    const text = required(raw, name);
    const value = Number(text);
    if (!/^\d+(\.\d+)?$/.test(text) || value <= 0 || value > max) {
      throw new ConfigError(
        name,
        `must be a number of seconds above 0 and at most ${max}, got ${JSON.stringify(text)}`,
      );
    }
    return value;
  };
}

/** Unset is allowed here; checkTogether requires the serving files unless PREPULL_UNINSTALL=on. */
function optionalExistingFile(raw: string | undefined, name: string): string | undefined {
  return raw === undefined || raw === "" ? undefined : existingFile(raw, name);
}

function existingFile(raw: string | undefined, name: string): string {
  const path = required(raw, name);
  // statSync follows symlinks, so a mounted Secret's tls.crt -> ..data/tls.crt counts as a file.
  const stats = statSync(path, { throwIfNoEntry: false });
  if (stats === undefined) throw new ConfigError(name, `file ${path} does not exist`);
  if (!stats.isFile()) throw new ConfigError(name, `${path} is not a regular file`);
  return path;
}

function logLevel(raw: string | undefined, name: string): LogLevel {
  const text = required(raw, name).toLowerCase();
  const level = LOG_LEVELS.find((candidate) => candidate === text);
  if (level === undefined) {
    throw new ConfigError(name, `must be one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(raw)}`);
  }
  return level;
}

function host(raw: string | undefined, name: string): string {
  const text = required(raw, name);
  if (/\s/.test(text))
    throw new ConfigError(name, `must be a hostname or IP address, got ${JSON.stringify(text)}`);
  return text;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function dnsLabel(raw: string | undefined, name: string): string {
  const text = required(raw, name);
  if (!DNS_LABEL.test(text)) {
    throw new ConfigError(
      name,
      `must be a Kubernetes namespace name (RFC 1123 label), got ${JSON.stringify(text)}`,
    );
  }
  return text;
}

/** A taint key: a label key, an optional DNS subdomain prefix and a name of at most 63 characters. */
const TAINT_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/** A Secret or PriorityClass name: an RFC 1123 subdomain of at most 253 characters. */
function isSubdomain(text: string): boolean {
  return text.length <= 253 && DNS_SUBDOMAIN.test(text);
}

/** Comma-separated names, blanks around commas ignored; unset is an empty list. */
function nameList(isValid: (name: string) => boolean, what: string) {
  return (raw: string | undefined, name: string): string[] => {
    const names = (raw ?? "")
      .split(",")
      .map((item) => item.trim())
      .filter((item) => item !== "");
    const bad = names.find((item) => !isValid(item));
    if (bad !== undefined) {
      throw new ConfigError(name, `must be a comma-separated list of ${what}, got ${JSON.stringify(bad)}`);
    }
    return [...new Set(names)];
  };
}

function optionalSubdomain(what: string) {
  return (raw: string | undefined, name: string): string | undefined => {
    const text = nonEmpty(raw);
    if (text !== undefined && !isSubdomain(text)) {
      throw new ConfigError(name, `must be a ${what} (RFC 1123 subdomain), got ${JSON.stringify(text)}`);
    }
    return text;
  };
}

function integer(min: number, max: number) {
  return (raw: string | undefined, name: string): number => {
    const text = required(raw, name);
    const value = Number(text);
    if (!/^\d+$/.test(text) || value < min || value > max) {
      throw new ConfigError(name, `must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
    }
    return value;
  };
}

function boolean(raw: string | undefined, name: string): boolean {
  const text = required(raw, name).toLowerCase();
  if (text !== "true" && text !== "false") {
    throw new ConfigError(name, `must be true or false, got ${JSON.stringify(raw)}`);
  }
  return text === "true";
}

function onOff(raw: string | undefined, name: string): boolean {
  const text = required(raw, name).toLowerCase();
  if (text !== "on" && text !== "off") {
    throw new ConfigError(name, `must be on or off, got ${JSON.stringify(raw)}`);
  }
  return text === "on";
}

/**
 * A DaemonSet's rollingUpdate.maxUnavailable: a count of at least 1 or a percentage from 1% to
 * 100%. 0 is refused: the API accepts it only together with a maxSurge, which prepull does not set.
 */
function maxUnavailable(raw: string | undefined, name: string): string {
  const text = required(raw, name);
  if (!/^[1-9]\d{0,8}$/.test(text) && !/^([1-9]\d?|100)%$/.test(text)) {
    throw new ConfigError(
      name,
      `must be a count of at least 1 or a percentage from 1% to 100%, got ${JSON.stringify(text)}`,
    );
  }
  return text;
}

/**
 * A positive Kubernetes resource quantity: decimal with an SI or binary suffix, no exponent, whole
 * milli-units. Returned the way the apiserver stores it ("0.01" → "10m"), so the DaemonSets
 * prepull writes compare equal to the stored ones.
 */
function quantity(kind: "cpu" | "memory") {
  const suffixes = kind === "cpu" ? "m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei" : "k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei";
  const pattern = new RegExp(`^(\\d+(\\.\\d+)?|\\.\\d+)(${suffixes})?$`);
  const example = kind === "cpu" ? '"1m" or "0.01"' : '"8Mi" or "16M"';
  return (raw: string | undefined, name: string): string => {
    const text = required(raw, name);
    const match = pattern.exec(text);
    const stored = canonicalQuantity(text);
    if (match === null || Number(match[1]) <= 0 || stored === undefined) {
      throw new ConfigError(
        name,
        `must be a ${kind} quantity above 0 such as ${example}, got ${JSON.stringify(text)}`,
      );
    }
    return stored;
  };
}

function imageReference(raw: string | undefined, name: string): string {
  const text = required(raw, name);
  const parsed = parseImageReference(text);
  if (!parsed.ok) {
    throw new ConfigError(name, `must be an image reference (${parsed.error}), got ${JSON.stringify(text)}`);
  }
  return text;
}

function absolutePath(raw: string | undefined, name: string): string {
  const text = required(raw, name);
  if (!text.startsWith("/") || /\s/.test(text)) {
    throw new ConfigError(name, `must be an absolute path without spaces, got ${JSON.stringify(text)}`);
  }
  return text;
}

/** A taint key is a qualified name: an optional DNS subdomain prefix and "/", then a name of at most 63. */
function taintKey(raw: string | undefined, name: string): string {
  const text = required(raw, name);
  const slash = text.lastIndexOf("/");
  const prefix = slash === -1 ? undefined : text.slice(0, slash);
  const local = text.slice(slash + 1);
  const validLocal = local.length <= 63 && /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(local);
  if (!validLocal || (prefix !== undefined && !isSubdomain(prefix))) {
    throw new ConfigError(
      name,
      `must be a taint key such as "prepull.dev/not-ready" (an optional DNS subdomain and "/", then a name of at most 63 characters), got ${JSON.stringify(text)}`,
    );
  }
  return text;
}

const GATE_TAINT_EFFECTS: readonly GateTaintEffect[] = ["NoSchedule", "NoExecute"];

/** Only these two keep pods off a node; PreferNoSchedule would gate nothing. */
function taintEffect(raw: string | undefined, name: string): GateTaintEffect {
  const text = required(raw, name);
  const effect = GATE_TAINT_EFFECTS.find((candidate) => candidate === text);
  if (effect === undefined) {
    throw new ConfigError(name, `must be NoSchedule or NoExecute, got ${JSON.stringify(text)}`);
  }
  return effect;
}

/**
 * prepull's published image, which carries the no-op binary. It equals the chart's default image
 * (image.repository and appVersion); a test keeps the two in step.
 */
export const DEFAULT_SLEEPER_IMAGE = "ghcr.io/prepull/prepull:0.1.0";

function setting<T>(definition: Setting<T>): Setting<T> {
  return definition;
}

/** Every setting prepull reads. Add one entry here and Config, --help and the README table follow. */
export const SETTINGS = {
  port: setting({
    name: "PORT",
    default: "8443",
    description: "HTTPS port for /mutate, /healthz and /readyz (0 picks a free port)",
    parse: port,
  }),
  metricsPort: setting({
    name: "METRICS_PORT",
    default: "8444",
    description: "HTTPS port for /metrics, same certificate (0 picks a free port); must differ from PORT",
    parse: port,
  }),
  metricsAuth: setting({
    name: "METRICS_AUTH",
    default: "on",
    description:
      "on: /metrics needs a bearer token the apiserver authenticates (TokenReview) and authorises for get on /metrics (SubjectAccessReview); without a Kubernetes API it answers 503. off: anyone reaching METRICS_PORT may read it",
    parse: onOff,
  }),
  metricsImageNames: setting({
    name: "PREPULL_METRICS_IMAGE_NAMES",
    default: "false",
    description:
      "true: the image label of prepull_image_nodes_* is the image reference. false: the first 12 hex digits of its sha256 (echo -n <image> | sha256sum)",
    parse: boolean,
  }),
  host: setting({
    name: "HOST",
    default: "0.0.0.0",
    description: 'Address to listen on ("::" for IPv6 and IPv4)',
    parse: host,
  }),
  tlsCertFile: setting({
    name: "TLS_CERT_FILE",
    default: undefined,
    description: "PEM serving certificate (chain); reloaded when it changes",
    parse: optionalExistingFile,
  }),
  tlsKeyFile: setting({
    name: "TLS_KEY_FILE",
    default: undefined,
    description: "PEM private key of the serving certificate; reloaded when it changes",
    parse: optionalExistingFile,
  }),
  logLevel: setting({
    name: "LOG_LEVEL",
    default: "info",
    description: `Log level: ${LOG_LEVELS.join(", ")}`,
    parse: logLevel,
  }),
  shutdownTimeoutSeconds: setting({
    name: "SHUTDOWN_TIMEOUT_SECONDS",
    default: "10",
    description: "On SIGTERM, how long in-flight requests may take before connections are cut",
    parse: positiveSeconds(3600),
  }),
  kubeconfig: setting({
    name: "KUBECONFIG",
    default: undefined,
    description:
      "Kubeconfig file(s) for running outside a cluster; unset uses the in-cluster service account",
    parse: nonEmpty,
  }),
  kubernetesServiceHost: setting({
    name: "KUBERNETES_SERVICE_HOST",
    default: undefined,
    description: "API server address, set by Kubernetes in every pod; its presence means in-cluster",
    parse: nonEmpty,
  }),
  podNamespace: setting({
    name: "POD_NAMESPACE",
    default: "prepull",
    description: "Namespace prepull is released in (where it keeps its DaemonSets)",
    parse: dnsLabel,
  }),
  podName: setting({
    name: "POD_NAME",
    default: undefined,
    description:
      "This pod's name (the chart sets it); the leader-election identity is <POD_NAME or hostname>_<pid>",
    parse: nonEmpty,
  }),
  reconciler: setting({
    name: "PREPULL_RECONCILER",
    default: "on",
    description:
      "on: with a Kubernetes API, reconcile opted-in workloads into pre-pull DaemonSets (one leader writes). " +
      "off: admission only, nothing is written to the cluster (to try the webhook on its own)",
    parse: onOff,
  }),
  excludedNamespaces: setting({
    name: "PREPULL_EXCLUDED_NAMESPACES",
    default: undefined,
    description:
      "Comma-separated namespaces whose workloads are never pre-pulled, besides kube-system and POD_NAMESPACE",
    parse: nameList((name) => DNS_LABEL.test(name), "namespace names"),
  }),
  clusterDefault: setting({
    name: "PREPULL_CLUSTER_DEFAULT",
    default: "off",
    description:
      "on: pre-pull every supported workload in every namespace not excluded, unless the workload says " +
      "prepull: \"false\" (the chart's webhook.clusterDefault sets it and the webhook's namespaceSelector to match)",
    parse: onOff,
  }),
  resyncSeconds: setting({
    name: "PREPULL_RESYNC_SECONDS",
    default: "300",
    description: "Seconds between full reconciles of every annotated workload, whatever the watches report",
    parse: positiveSeconds(86400),
  }),
  maxImagesPerDaemonSet: setting({
    name: "PREPULL_MAX_IMAGES_PER_DAEMONSET",
    default: "100",
    description:
      "At most this many images per pre-pull DaemonSet; more are sharded. At most 250 keeps every DaemonSet and its pods well under the apiserver's 1.5 MiB object limit",
    parse: integer(1, 250),
  }),
  maxUnavailable: setting({
    name: "PREPULL_MAX_UNAVAILABLE",
    default: "100%",
    description:
      'rollingUpdate.maxUnavailable of the pre-pull DaemonSets: a count of at least 1 or "1%" to "100%"',
    parse: maxUnavailable,
  }),
  mirrorPullSecrets: setting({
    name: "PREPULL_MIRROR_PULL_SECRETS",
    default: "false",
    description:
      "true: copy workloads' imagePullSecrets into POD_NAMESPACE for the DaemonSets (needs read access to Secrets)",
    parse: boolean,
  }),
  toleratedTaints: setting({
    name: "PREPULL_TOLERATED_TAINTS",
    default: "*",
    description:
      'Comma-separated taint keys the pre-pull DaemonSets may tolerate when a workload does; "*": any key not in PREPULL_NEVER_TOLERATED_TAINTS. A keyless Exists toleration becomes one per listed key (dropped with "*")',
    parse: nameList((key) => key === "*" || TAINT_KEY.test(key), 'taint keys or "*"'),
  }),
  neverToleratedTaints: setting({
    name: "PREPULL_NEVER_TOLERATED_TAINTS",
    default: "node-role.kubernetes.io/control-plane,node-role.kubernetes.io/master",
    description:
      "Comma-separated taint keys the pre-pull DaemonSets never tolerate, whatever a workload asks",
    parse: nameList((key) => TAINT_KEY.test(key), "taint keys"),
  }),
  priorityClassName: setting({
    name: "PREPULL_PRIORITY_CLASS_NAME",
    default: undefined,
    description: "PriorityClass of the pre-pull DaemonSets' pods; unset or empty: none",
    parse: optionalSubdomain("PriorityClass name"),
  }),
  sleeperImage: setting({
    name: "PREPULL_SLEEPER_IMAGE",
    default: DEFAULT_SLEEPER_IMAGE,
    description:
      "Image holding the no-op binary the pre-pull DaemonSets copy into their pods (prepull's own image)",
    parse: imageReference,
  }),
  sleeperPath: setting({
    name: "PREPULL_SLEEPER_PATH",
    default: "/usr/local/bin/prepull-sleep",
    description: "Path of the no-op binary inside PREPULL_SLEEPER_IMAGE",
    parse: absolutePath,
  }),
  sleeperPullSecrets: setting({
    name: "PREPULL_SLEEPER_PULL_SECRETS",
    default: undefined,
    description: "Comma-separated Secrets in POD_NAMESPACE for pulling PREPULL_SLEEPER_IMAGE",
    parse: nameList(isSubdomain, "Secret names"),
  }),
  podCpu: setting({
    name: "PREPULL_POD_CPU",
    default: "1m",
    description:
      "CPU each pre-pull pod reserves on its node whatever its image count (its init container's request; image containers request 0)",
    parse: quantity("cpu"),
  }),
  podMemory: setting({
    name: "PREPULL_POD_MEMORY",
    default: "16Mi",
    description:
      "Memory each pre-pull pod reserves on its node whatever its image count (its init container's request; image containers request 0)",
    parse: quantity("memory"),
  }),
  containerCpu: setting({
    name: "PREPULL_CONTAINER_CPU",
    default: "100m",
    description:
      "CPU limit of every container of the pre-pull DaemonSets; at least PREPULL_POD_CPU (a tighter limit slows container start)",
    parse: quantity("cpu"),
  }),
  containerMemory: setting({
    name: "PREPULL_CONTAINER_MEMORY",
    default: "32Mi",
    description:
      "Memory limit of every container of the pre-pull DaemonSets; at least PREPULL_POD_MEMORY and above runc's start-up peak (OOM reported at 10Mi)",
    parse: quantity("memory"),
  }),
  leaseDurationSeconds: setting({
    name: "PREPULL_LEASE_DURATION_SECONDS",
    default: "15",
    description:
      "Leader election: a replica takes over this long after the leader's last renewal (its Lease's duration)",
    parse: integer(1, 3600),
  }),
  leaseRenewSeconds: setting({
    name: "PREPULL_LEASE_RENEW_SECONDS",
    default: "5",
    description:
      "Leader election: how often the leader renews its Lease; below PREPULL_LEASE_DURATION_SECONDS",
    parse: integer(1, 3600),
  }),
  uninstall: setting({
    name: "PREPULL_UNINSTALL",
    default: "off",
    description:
      "on: serve nothing; take the reconciler's Lease, delete the pre-pull DaemonSets and mirrored Secrets, remove prepull's " +
      "annotations from workloads (and, with PREPULL_NODE_GATE=on, the gating taint from nodes), delete the Leases and exit " +
      "(the chart's post-delete hook runs this)",
    parse: onOff,
  }),
  nodeGate: setting({
    name: "PREPULL_NODE_GATE",
    default: "off",
    description:
      "on: a node that carries PREPULL_NODE_GATE_TAINT takes no workload pods until the pre-pull pods that target it have " +
      "their images; then the leader removes the taint (needs node get/list/watch/patch). off: tainted nodes are left alone",
    parse: onOff,
  }),
  nodeGateTaint: setting({
    name: "PREPULL_NODE_GATE_TAINT",
    default: DEFAULT_GATE_TAINT_KEY,
    description:
      `Key of the startup taint new nodes join with (kubelet --register-with-taints, Karpenter startupTaints); ` +
      `under ${AUTOSCALER_IGNORED_TAINT_PREFIX} (e.g. ${AUTOSCALER_IGNORED_TAINT_PREFIX}prepull) Cluster Autoscaler treats it as temporary`,
    parse: taintKey,
  }),
  nodeGateTaintEffect: setting({
    name: "PREPULL_NODE_GATE_TAINT_EFFECT",
    default: "NoSchedule",
    description: "Effect of that taint: NoSchedule or NoExecute",
    parse: taintEffect,
  }),
  nodeGateDeadlineSeconds: setting({
    name: "PREPULL_NODE_GATE_DEADLINE_SECONDS",
    default: "900",
    description:
      "Seconds after a node's creation when its taint is removed even if images are missing (an Event on the node names them)",
    parse: integer(1, 86400),
  }),
};

type Settings = typeof SETTINGS;
export type Config = { readonly [K in keyof Settings]: ReturnType<Settings[K]["parse"]> };

export interface ConfigSource {
  env: Readonly<Record<string, string | undefined>>;
  /** Command-line arguments after the script name. */
  argv: readonly string[];
}

function flagOf(name: string): string {
  return `--${name.toLowerCase().replaceAll("_", "-")}`;
}

/** `--port=1` and `--port 1`; returns env-style names so flags and environment merge simply. */
function parseFlags(argv: readonly string[]): Map<string, string> {
  const byFlag = new Map(Object.values(SETTINGS).map((s) => [flagOf(s.name), s.name]));
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    const equals = arg.indexOf("=");
    const flag = equals === -1 ? arg : arg.slice(0, equals);
    const name = byFlag.get(flag);
    if (name === undefined) throw new ConfigError(arg, "unknown argument; see --help");
    if (equals !== -1) {
      values.set(name, arg.slice(equals + 1));
      continue;
    }
    const next = argv[i + 1];
    if (next === undefined) throw new ConfigError(flag, "needs a value");
    values.set(name, next);
    i++;
  }
  return values;
}

export function wantsHelp(argv: readonly string[] = process.argv.slice(2)): boolean {
  return argv.includes("--help") || argv.includes("-h");
}

/** Reads every setting once (flags win over the environment), validates, and freezes the result. */
export function loadConfig(source: ConfigSource = { env: process.env, argv: process.argv.slice(2) }): Config {
  const flags = parseFlags(source.argv);
  const entries = Object.entries(SETTINGS).map(([key, s]: [string, Setting<unknown>]) => {
    // An empty variable counts as unset, as it usually comes from a template with no value.
    const raw = nonEmpty(flags.get(s.name)) ?? nonEmpty(source.env[s.name]) ?? s.default;
    return [key, s.parse(raw, s.name)];
  });
  const config = Object.fromEntries(entries) as Config;
  checkTogether(config);
  return Object.freeze(config);
}

/** Rules between settings; each failure still names one setting. */
function checkTogether(config: Config): void {
  if (!config.uninstall) {
    for (const file of ["tlsCertFile", "tlsKeyFile"] as const)
      if (config[file] === undefined) throw new ConfigError(SETTINGS[file].name, "must be set");
  }
  if (config.metricsPort === config.port && config.port !== 0) {
    throw new ConfigError(
      SETTINGS.metricsPort.name,
      `must differ from ${SETTINGS.port.name} (${config.port})`,
    );
  }
  // The init container requests the pod's share and is limited like every container; the
  // apiserver refuses a request above its limit.
  for (const [request, limit] of [
    ["podCpu", "containerCpu"],
    ["podMemory", "containerMemory"],
  ] as const) {
    if (compareQuantities(config[request], config[limit]) > 0) {
      throw new ConfigError(
        SETTINGS[request].name,
        `must be at most ${SETTINGS[limit].name} (${config[limit]}), got ${config[request]}`,
      );
    }
  }
  if (config.leaseRenewSeconds >= config.leaseDurationSeconds) {
    throw new ConfigError(
      SETTINGS.leaseRenewSeconds.name,
      `must be below ${SETTINGS.leaseDurationSeconds.name} (${config.leaseDurationSeconds}), got ${config.leaseRenewSeconds}`,
    );
  }
  if (config.nodeGate && !config.reconciler) {
    throw new ConfigError(
      SETTINGS.nodeGate.name,
      `on needs ${SETTINGS.reconciler.name}=on (the pre-pull DaemonSets decide when a node is ready)`,
    );
  }
}

export interface SettingRow {
  name: string;
  flag: string;
  default: string | undefined;
  description: string;
}

/** The settings as rows, for --help and the README's configuration table. */
export function settingsTable(): SettingRow[] {
  return Object.values(SETTINGS).map((s) => ({
    name: s.name,
    flag: flagOf(s.name),
    default: s.default,
    description: s.description,
  }));
}

export function helpText(): string {
  const rows = settingsTable().map(
    (row) =>
      `  ${row.name} (${row.flag})${row.default === undefined ? "" : ` [${row.default}]`}\n      ${row.description}`,
  );
  return `Usage: prepull [--flag=value ...]\nEvery setting is an environment variable or the flag in brackets:\n${rows.join("\n")}\n`;
}
