// Temporary directories for tests, removed without the test having to: some hold CA keys, and a
// unit run used to leave dozens of them in the OS temp dir. A directory made inside a test goes
// when that test finishes; one made in a hook or at module scope goes after its file
// (test/support/remove-temp-dirs.ts is a setup file of both vitest projects).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onTestFinished, TestRunner } from "vitest";

/** Directories made outside a test in the current file, for the file's afterAll. */
const madeOutsideTests = new Set<string>();

export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `prepull-${prefix}-`));
  if (TestRunner.getCurrentTest() !== undefined) onTestFinished(() => removeDir(dir));
  else madeOutsideTests.add(dir);
  return dir;
}

/** Removes every directory made outside a test so far; the setup file calls it after each file. */
export function removeTempDirs(): void {
  for (const dir of madeOutsideTests) removeDir(dir);
  madeOutsideTests.clear();
}

function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
