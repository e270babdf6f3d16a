// The parsers of the settings table (config.ts): each takes the raw text (undefined when unset)
// and the setting's name, and returns the typed value or throws a ConfigError whose message is one
// line naming the setting. They read nothing themselves, except that a file setting must exist.
import { statSync } from "node:fs";
import { parseImageReference } from "./core/images.ts";
import type { GateTaintEffect } from "./core/node-gate.ts";
import { canonicalQuantity } from "./core/quantity.ts";

/** A configuration problem, reported as one line that starts with the setting's name. */
export class ConfigError extends Error {
  readonly setting: string;

  constructor(setting: string, problem: string) {
    super(`${setting}: ${problem}`);
    this.name = "ConfigError";
    this.setting = setting;
  }
}

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

function required(raw: string | undefined, name: string): string {
  if (raw === undefined || raw === "") throw new ConfigError(name, "must be set");
  return raw;
}

export function nonEmpty(raw: string | undefined): string | undefined {
  return raw === undefined || raw === "" ? undefined : raw;
}

export function port(raw: string | undefined, name: string): number {
  const text = required(raw, name);
  const value = Number(text);
  if (!/^\d+$/.test(text) || value > 65535) {
    throw new ConfigError(name, `must be an integer from 0 to 65535, got ${JSON.stringify(text)}`);
  }
  return value;
}

export function positiveSeconds(max: number) {
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
export function optionalExistingFile(raw: string | undefined, name: string): string | undefined {
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

export function logLevel(raw: string | undefined, name: string): LogLevel {
  const text = required(raw, name).toLowerCase();
  const level = LOG_LEVELS.find((candidate) => candidate === text);
  if (level === undefined) {
    throw new ConfigError(name, `must be one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(raw)}`);
  }
  return level;
}

export function host(raw: string | undefined, name: string): string {
  const text = required(raw, name);
  if (/\s/.test(text))
    throw new ConfigError(name, `must be a hostname or IP address, got ${JSON.stringify(text)}`);
  return text;
}

export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function dnsLabel(raw: string | undefined, name: string): string {
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
export const TAINT_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/** A Secret or PriorityClass name: an RFC 1123 subdomain of at most 253 characters. */
export function isSubdomain(text: string): boolean {
  return text.length <= 253 && DNS_SUBDOMAIN.test(text);
}

/** Comma-separated names, blanks around commas ignored; unset is an empty list. */
export function nameList(isValid: (name: string) => boolean, what: string) {
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

export function optionalSubdomain(what: string) {
  return (raw: string | undefined, name: string): string | undefined => {
    const text = nonEmpty(raw);
    if (text !== undefined && !isSubdomain(text)) {
      throw new ConfigError(name, `must be a ${what} (RFC 1123 subdomain), got ${JSON.stringify(text)}`);
    }
    return text;
  };
}

export function integer(min: number, max: number) {
  return (raw: string | undefined, name: string): number => {
    const text = required(raw, name);
    const value = Number(text);
    if (!/^\d+$/.test(text) || value < min || value > max) {
      throw new ConfigError(name, `must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
    }
    return value;
  };
}

export function boolean(raw: string | undefined, name: string): boolean {
  const text = required(raw, name).toLowerCase();
  if (text !== "true" && text !== "false") {
    throw new ConfigError(name, `must be true or false, got ${JSON.stringify(raw)}`);
  }
  return text === "true";
}

export function onOff(raw: string | undefined, name: string): boolean {
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
export function maxUnavailable(raw: string | undefined, name: string): string {
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
export function quantity(kind: "cpu" | "memory") {
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

export function imageReference(raw: string | undefined, name: string): string {
  const text = required(raw, name);
  const parsed = parseImageReference(text);
  if (!parsed.ok) {
    throw new ConfigError(name, `must be an image reference (${parsed.error}), got ${JSON.stringify(text)}`);
  }
  return text;
}

export function absolutePath(raw: string | undefined, name: string): string {
  const text = required(raw, name);
  if (!text.startsWith("/") || /\s/.test(text)) {
    throw new ConfigError(name, `must be an absolute path without spaces, got ${JSON.stringify(text)}`);
  }
  return text;
}

/** A taint key is a qualified name: an optional DNS subdomain prefix and "/", then a name of at most 63. */
export function taintKey(raw: string | undefined, name: string): string {
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
export function taintEffect(raw: string | undefined, name: string): GateTaintEffect {
  const text = required(raw, name);
  const effect = GATE_TAINT_EFFECTS.find((candidate) => candidate === text);
  if (effect === undefined) {
    throw new ConfigError(name, `must be NoSchedule or NoExecute, got ${JSON.stringify(text)}`);
  }
  return effect;
}
