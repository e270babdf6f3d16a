// The temporary-directory helper removes what it made, with no help from the test.
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { makeTempDir, removeTempDirs } from "./temp-dir.ts";

describe("makeTempDir", () => {
  let madeInTest = "";

  it("makes a directory inside a test", () => {
    madeInTest = makeTempDir("temp-dir-test");
    writeFileSync(join(madeInTest, "ca.key"), "secret");
    expect(existsSync(join(madeInTest, "ca.key"))).toBe(true);
  });

  it("which is gone once that test finished", () => {
    expect(madeInTest).not.toBe("");
    expect(existsSync(madeInTest)).toBe(false);
  });
});

describe("a directory made in a hook", () => {
  let madeInHook = "";
  beforeAll(() => {
    madeInHook = makeTempDir("temp-dir-hook");
    writeFileSync(join(madeInHook, "ca.key"), "secret");
  });

  it("outlives the tests, and removeTempDirs (the setup file's afterAll) removes it", () => {
    expect(existsSync(join(madeInHook, "ca.key"))).toBe(true);
    removeTempDirs();
    expect(existsSync(madeInHook)).toBe(false);
  });
});
