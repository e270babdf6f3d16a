// Go programs of the bench (the load generator, the controller-runtime peer) are built once into
// ~/.cache/prepull/bench, named by a hash of their sources, so a warm run builds nothing and a
// changed go.mod (a new controller-runtime version) builds afresh. Modules come from the Go
// module proxy as `go build` fetches them; go.sum pins them.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { access, mkdir, readdir, readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

const BENCH_CACHE_DIR = join(homedir(), ".cache", "prepull", "bench");

async function sourceHash(dir: string): Promise<string> {
  const hash = createHash("sha256");
  const names = (await readdir(dir)).filter((name) => /\.(go|mod|sum)$/.test(name)).sort();
  for (const name of names)
    hash
      .update(name)
      .update("\0")
      .update(await readFile(join(dir, name)));
  return hash.digest("hex").slice(0, 12);
}

/** The path of the built binary; builds it when the cache has no binary for these sources. */
export async function buildGo(dir: string, name: string): Promise<string> {
  const binary = join(BENCH_CACHE_DIR, `${name}-${await sourceHash(dir)}`);
  try {
    await access(binary);
    return binary;
  } catch {
    // not built yet for these sources
  }
  await mkdir(BENCH_CACHE_DIR, { recursive: true });
  process.stderr.write(`bench: building ${name} (go build in ${dir}) ...\n`);
  try {
    await execFileAsync("go", ["build", "-trimpath", "-o", binary, "."], {
      cwd: dir,
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? String(error);
    throw new Error(`go build of ${name} in ${dir} failed: ${stderr.trim()}`);
  }
  return binary;
}
