import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { chartDir } from "../support/helm.ts";

// charts/prepull/README.md's values table must match values.yaml: every value documented, with
// its default, and no row for a value that no longer exists.
const readme = readFileSync(join(chartDir, "README.md"), "utf8");
const values = parse(readFileSync(join(chartDir, "values.yaml"), "utf8")) as Record<string, unknown>;
const rows = new Map(
  [...readme.matchAll(/^\|\s*`([A-Za-z.]+)`\s*\|\s*`(.*?)`\s*\|\s*(.+?)\s*\|$/gm)].map((m) => [
    m[1] ?? "",
    m[2] ?? "",
  ]),
);

function isMap(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === "object" && value !== null && !Array.isArray(value) && Object.keys(value).length > 0
  );
}

function lookup(path: string): unknown {
  let node: unknown = values;
  for (const key of path.split(".")) node = isMap(node) ? node[key] : undefined;
  return node;
}

describe("charts/prepull/README.md values table", () => {
  it("documents every value, a whole map at most once", () => {
    const missing: string[] = [];
    const walk = (node: Record<string, unknown>, prefix: string): void => {
      for (const [key, value] of Object.entries(node)) {
        const path = prefix === "" ? key : `${prefix}.${key}`;
        if (rows.has(path)) continue;
        if (isMap(value)) walk(value, path);
        else missing.push(path);
      }
    };
    walk(values, "");
    expect(missing).toEqual([]);
  });

  it("shows each value's real default and has no rows for values that do not exist", () => {
    expect(rows.size).toBeGreaterThan(40);
    for (const [path, shown] of rows) {
      expect(lookup(path), path).not.toBeUndefined();
      expect(shown.replaceAll("\\|", "|"), path).toBe(JSON.stringify(lookup(path)));
    }
  });
});
