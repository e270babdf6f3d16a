// Who is using a running plane, so that a test run which started it stops it only when no other
// run still needs it. One file per user process, named by pid; dead pids do not count.
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isAlive } from "./lock.ts";
import type { ClusterPaths } from "./paths.ts";

export async function registerUser(paths: ClusterPaths, pid = process.pid): Promise<void> {
  await mkdir(paths.users, { recursive: true });
  await writeFile(join(paths.users, String(pid)), "");
}

export async function unregisterUser(paths: ClusterPaths, pid = process.pid): Promise<void> {
  await rm(join(paths.users, String(pid)), { force: true });
}

export async function otherLiveUsers(paths: ClusterPaths, pid = process.pid): Promise<number[]> {
  let entries: string[];
  try {
    entries = await readdir(paths.users);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  return entries.map(Number).filter((other) => Number.isInteger(other) && other !== pid && isAlive(other));
}
