// The only reader of the environment and of command-line flags. Everything else receives a Config.
// Each setting is one entry in SETTINGS: its name, default, description and a parser that either
// returns the typed value or throws a ConfigError whose message is one line naming the setting.
// The parsers themselves are in config-parsers.ts.
import { parseArgs } from "node:util";
import {
  absolutePath,
  boolean,
  ConfigError,
  DNS_LABEL,
  dnsLabel,
  host,
  imageReference,
  integer,
  isSubdomain,
  LOG_LEVELS,
  logLevel,
  maxUnavailable,
  nameList,
  nonEmpty,
  onOff,
  optionalExistingFile,
  optionalSubdomain,
  port,
  positiveSeconds,
  quantity,
  TAINT_KEY,
  taintEffect,
  taintKey,
} from "./config-parsers.ts";
import { AUTOSCALER_IGNORED_TAINT_PREFIX, DEFAULT_GATE_TAINT_KEY } from "./core/node-gate.ts";
import { compareQuantities } from "./core/quantity.ts";

interface Setting<T> {
  /** Environment variable; the flag is derived from it (PORT → --port). */
  name: string;
  /** Raw default, as it would be written in the environment; undefined means unset. */
  default: string | undefined;
  description: string;
  parse(raw: string | undefined, name: string): T;
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

/**
 * `--port=1` and `--port 1` (node:util parseArgs); returns env-style names so flags and environment
 * merge simply. Anything else (a positional, an unknown or short flag, `--`) is refused, naming the
 * argument as given.
 */
function parseFlags(argv: readonly string[]): Map<string, string> {
  const byFlag = new Map(Object.values(SETTINGS).map((s) => [flagOf(s.name).slice(2), s.name]));
  const options = Object.fromEntries([...byFlag.keys()].map((flag) => [flag, { type: "string" as const }]));
  // Not strict: the tokens let every refusal name the argument exactly as it was given.
  const { tokens } = parseArgs({
    args: [...argv],
    options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const values = new Map<string, string>();
  for (const token of tokens) {
    const name = token.kind === "option" ? byFlag.get(token.name) : undefined;
    if (token.kind !== "option" || name === undefined || token.rawName !== `--${token.name}`)
      throw new ConfigError(argv[token.index] ?? "", "unknown argument; see --help");
    if (token.value === undefined) throw new ConfigError(token.rawName, "needs a value");
    values.set(name, token.value);
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
