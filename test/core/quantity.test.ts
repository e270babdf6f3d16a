// Quantities as the apiserver stores them (apimachinery's CanonicalizeBytes): a manifest that
// spells a quantity any other way never equals the stored object.
import { describe, expect, it } from "vitest";
import { canonicalQuantity, compareQuantities } from "../../src/core/quantity.ts";

describe("canonicalQuantity", () => {
  it.each([
    ["1m", "1m"],
    ["100m", "100m"],
    ["0.01", "10m"],
    [".5", "500m"],
    ["2000m", "2"],
    ["1000", "1k"],
    ["1500000", "1500k"],
    ["16M", "16M"],
    ["8Mi", "8Mi"],
    ["1024Mi", "1Gi"],
    ["1.5Gi", "1536Mi"],
    ["0.5Gi", "512Mi"],
    // Below 1024 bytes a binary suffix becomes decimal; so does a value that is not whole bytes.
    ["0.5Ki", "512"],
    ["1.5Ki", "1536"],
    ["0", "0"],
    ["0Mi", "0"],
  ])("%s is stored as %s", (text, stored) => {
    expect(canonicalQuantity(text)).toBe(stored);
  });

  it.each(["", "1.5m", "0.0001", "1e3", "-1", "+1", "1 Mi", "1mi", "Mi", "1.2.3"])("refuses %j", (text) => {
    expect(canonicalQuantity(text)).toBeUndefined();
  });
});

describe("compareQuantities", () => {
  it.each([
    ["16Mi", "32Mi", -1],
    ["32Mi", "32Mi", 0],
    ["1Gi", "1024Mi", 0],
    ["100m", "0.1", 0],
    ["1", "999m", 1],
    ["16M", "16Mi", -1],
  ] as const)("%s vs %s → %i", (a, b, expected) => {
    expect(compareQuantities(a, b)).toBe(expected);
  });
});
