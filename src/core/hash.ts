// Stable hashing for names and keys that must come out the same on every replica and restart.
// Pure: the same input always gives the same output; no randomness, no clock.
import { createHash } from "node:crypto";

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/**
 * JSON with object keys sorted at every depth, so two objects that differ only in key order
 * serialise (and therefore hash) identically. Array order is kept: callers sort arrays whose
 * order carries no meaning before calling.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value !== "object" || value === null) return JSON.stringify(value) ?? "null";
  // Written by hand rather than through JSON.stringify of a rebuilt object: the engine puts
  // integer-like keys ("123" is a valid label key) first whatever the insertion order.
  const members = Object.entries(value)
    .filter(([, inner]) => inner !== undefined)
    .sort(([a], [b]) => compareStrings(a, b))
    .map(([key, inner]) => `${JSON.stringify(key)}:${canonicalJson(inner)}`);
  return `{${members.join(",")}}`;
}

/** Code-unit order, independent of locale (localeCompare is not). */
export function compareStrings(a: string, b: string): number {
  if (a < b) return -1;
  return a > b ? 1 : 0;
}

/** Bit `index` (0 = most significant) of a lowercase hex string. */
export function hexBit(hex: string, index: number): 0 | 1 {
  const digit = Number.parseInt(hex.charAt(index >> 2), 16);
  return ((digit >> (3 - (index & 3))) & 1) as 0 | 1;
}
