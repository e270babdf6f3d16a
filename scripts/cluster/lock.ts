// A lock file around `up` and `down`: two test runs (or a person and a test run) starting the
// plane at the same moment must not both start one. The file holds the owner's pid, so a lock
// left by a killed run is recognised and taken over.
import { mkdir, open, readFile, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Progress } from "./progress.ts";

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ESRCH") return false;
    if (code === "EPERM") return true;
    throw error;
  }
}

async function tryAcquire(lockFile: string): Promise<boolean> {
  try {
    const handle = await open(lockFile, "wx");
    await handle.writeFile(`${process.pid}\n`);
    await handle.close();
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
}

async function ownerOf(lockFile: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt(await readFile(lockFile, "utf8"), 10);
    return Number.isInteger(pid) ? pid : undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

export async function withLock<T>(lockFile: string, log: Progress, work: () => Promise<T>): Promise<T> {
  await mkdir(dirname(lockFile), { recursive: true });
  let announced = false;
  while (!(await tryAcquire(lockFile))) {
    const owner = await ownerOf(lockFile);
    if (owner === undefined || !isAlive(owner)) {
      // Left by a run that was killed (or is being written right now: then the retry sees it).
      if (owner !== undefined) await rm(lockFile, { force: true });
      await sleep(100);
      continue;
    }
    if (!announced) log(`waiting for process ${owner}, which is starting or stopping the plane`);
    announced = true;
    await sleep(500);
  }
  try {
    return await work();
  } finally {
    await rm(lockFile, { force: true });
  }
}
