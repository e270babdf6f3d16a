// The only reader of the environment and of command-line flags. Everything else receives a Config.
// Each setting is one entry in SETTINGS: its name, default, description and a parser that either
// returns the typed value or throws a ConfigError whose message is one line naming the setting.
import { statSync } from "node:fs";

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

function dnsLabel(raw: string | undefined, name: string): string {
  const text = required(raw, name);
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(text)) {
    throw new ConfigError(
      name,
      `must be a Kubernetes namespace name (RFC 1123 label), got ${JSON.stringify(text)}`,
    );
  }
  return text;
}

function setting<T>(definition: Setting<T>): Setting<T> {
  return definition;
}

/** Every setting prepull reads. Add one entry here and Config, --help and the README table follow. */
export const SETTINGS = {
  port: setting({
    name: "PORT",
    default: "8443",
    description: "HTTPS port for /mutate, /healthz, /readyz and /metrics (0 picks a free port)",
    parse: port,
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
    parse: existingFile,
  }),
  tlsKeyFile: setting({
    name: "TLS_KEY_FILE",
    default: undefined,
    description: "PEM private key of the serving certificate; reloaded when it changes",
    parse: existingFile,
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
  return Object.freeze(Object.fromEntries(entries)) as Config;
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
