import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { settingsMarkdown } from "../../scripts/settings-table.ts";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

describe("README", () => {
  it("carries the configuration table of src/config.ts (regenerate: node scripts/settings-table.ts)", () => {
    expect(readme).toContain(settingsMarkdown());
  });

  it("names the two commands a newcomer runs", () => {
    expect(readme).toContain("npm run demo");
    expect(readme).toContain("npm test");
  });

  it("is what .ci/run runs: the README's test command", () => {
    const ci = readFileSync(new URL("../../.ci/run", import.meta.url), "utf8");
    expect(ci).toMatch(/^npm test$/m);
  });
});
