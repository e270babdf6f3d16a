// The layering rules of `npm run lint` (.dependency-cruiser.json), run the way lint runs them, on
// one tiny tree per rule that breaks it once (test/fixtures/layering): each must fail with the
// rule's name and the offending import, and a tree that keeps every rule must pass.
import { execFile } from "node:child_process";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const CONFIG = join(ROOT, ".dependency-cruiser.json");
const FIXTURES = join(ROOT, "test/fixtures/layering");
// The bin npm links as node_modules/.bin/depcruise, run with this Node (the project's).
const DEPCRUISE = join(ROOT, "node_modules/dependency-cruiser/bin/dependency-cruiser.mjs");

/** Exit code and output of `depcruise --config <project config> src` in a fixture tree. */
async function cruise(fixture: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [DEPCRUISE, "--config", CONFIG, "src"], {
      cwd: join(FIXTURES, fixture),
    });
    return { code: 0, output: stdout };
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof failed.code !== "number") throw error;
    return { code: failed.code, output: `${failed.stdout ?? ""}${failed.stderr ?? ""}` };
  }
}

/** The `error <rule>: <from> → <to> ...` lines of the err reporter, whitespace folded. */
function violations(output: string): string[] {
  return output
    .replace(/ →\s+/g, " → ")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.startsWith("error "));
}

describe("layering rules (npm run lint)", () => {
  it.each([
    ["core-is-pure", "error core-is-pure: src/core/pure.ts → src/log.ts"],
    ["http-not-kube", "error http-not-kube: src/http/route.ts → src/kube/client.ts"],
    ["kube-not-reconcile", "error kube-not-reconcile: src/kube/adapter.ts → src/reconcile/loop.ts"],
    ["no-cycles", "error no-cycles: src/first.ts → src/second.ts → src/first.ts"],
  ])("fails on a tree that breaks %s, naming the import", async (fixture, expected) => {
    const { code, output } = await cruise(fixture);
    expect(violations(output)).toEqual([expected]);
    expect(code).toBe(1);
  });

  it("passes a tree that uses every allowed direction", async () => {
    const { code, output } = await cruise("clean");
    expect(violations(output)).toEqual([]);
    expect(output).toContain("no dependency violations found (5 modules, 4 dependencies cruised)");
    expect(code).toBe(0);
  });
});
