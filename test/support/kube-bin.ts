import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root, found from this file's location so tests work from any cwd. */
export const repoRoot: string = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

const cached = new Map<string, string>();

/**
 * The directory holding kube-apiserver, kubectl, etcd, kwok and helm, built and cached by
 * scripts/build-kube.sh. The script is the only thing that knows the versions and the cache key,
 * so it is asked (it builds nothing when warm) rather than the path being guessed. Its progress
 * goes to stderr, which is passed through so a cold build shows what it is doing. `only`: build
 * just that binary (the unit tests need helm, not the whole control plane).
 * PREPULL_KUBE_BIN_DIR, when set, is used instead.
 */
function kubeBinDir(only?: string): string {
  const key = only ?? "";
  const known = cached.get(key) ?? cached.get("");
  if (known !== undefined) return known;
  // An escape hatch for binaries built elsewhere; the directory name must keep the script's form.
  const override = process.env.PREPULL_KUBE_BIN_DIR;
  if (override !== undefined && override !== "") {
    cached.set(key, override);
    return override;
  }
  const args = [join(repoRoot, "scripts/build-kube.sh"), ...(only === undefined ? [] : ["--only", only])];
  const stdout = execFileSync("bash", args, {
    cwd: repoRoot,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  const dir = stdout.trim().split("\n").at(-1);
  if (dir === undefined || dir === "" || !existsSync(dir)) {
    throw new Error(
      `scripts/build-kube.sh did not print an existing bin directory (got ${JSON.stringify(dir)})`,
    );
  }
  cached.set(key, dir);
  return dir;
}

/**
 * The Kubernetes version the binaries were built from, read from the bin directory's name
 * (kube-v1.37.2-etcd-...), which build-kube.sh derives from the one place versions are set.
 */
export function kubeVersion(): string {
  // Every binary lives in the one keyed directory: helm's is enough, and cheap to build alone.
  const dir = [...cached.values()][0] ?? kubeBinDir("helm");
  const match = /kube-(v\d+\.\d+\.\d+)/.exec(dir);
  if (match?.[1] === undefined) throw new Error(`no Kubernetes version in ${dir}`);
  return match[1];
}

/** The path of one cached binary, e.g. kubeBin("helm"). */
export function kubeBin(name: string): string {
  const dir = kubeBinDir(name);
  const path = join(dir, name);
  if (!existsSync(path)) throw new Error(`${name} is not in ${dir}`);
  return path;
}
