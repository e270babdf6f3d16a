// Builds prepull's image without Docker, from what scripts/image/recipe.ts lists: a distroless-like
// root file system from Debian 12 packages (fetched with apt-get, unpacked with dpkg-deb), the
// Node.js runtime binary from the `node` npm package (the project's own Node 24), the production
// install, the compiled output and the static sleeper. Each part is one layer, written with GNU
// tar deterministically (sorted names, time 0, numeric owners) and assembled and pushed with crane.
//
//   npm run image:build                 # to the local plane's registry as registry.prepull.test/prepull/prepull:dev
//   npm run image:build -- --push REF   # anywhere crane can push (e.g. a registry on loopback)
//
// linux/amd64 only: the node binary comes from the build machine's `node` package and the Debian
// packages from its apt sources (arm64 would need dpkg's foreign architecture set up host-wide).
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { clusterPaths, REPO_ROOT } from "../cluster/paths.ts";
import { type Progress, progress } from "../cluster/progress.ts";
import { readState } from "../cluster/state.ts";
import {
  APP_FILES,
  baseFiles,
  DEBIAN_PACKAGES,
  IMAGE_CONFIG,
  LOCAL_IMAGE,
  NODE_BINARY,
  NONROOT,
  PRODUCTION_INSTALL,
} from "./recipe.ts";

const execFileAsync = promisify(execFile);
const MIB = 1024 * 1024;

async function run(command: string, args: string[], options: { cwd?: string } = {}): Promise<string> {
  try {
    const { stdout } = await execFileAsync(command, args, { ...options, maxBuffer: 64 * MIB });
    return stdout.trim();
  } catch (error) {
    const stderr = String((error as { stderr?: string }).stderr ?? (error as Error).message).trim();
    throw new Error(
      `${command} ${args.slice(0, 2).join(" ")} failed: ${stderr.split("\n").slice(-5).join("\n")}`,
    );
  }
}

function cacheRoot(): string {
  return (
    process.env.PREPULL_CACHE_DIR ??
    join(process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? "/root", ".cache"), "prepull")
  );
}

/** Debian's files of the base: libraries, zoneinfo, netbase's tables; the CA bundle made as update-ca-certificates makes it. */
async function stageDebianBase(dir: string, log: Progress): Promise<string[]> {
  const debs = join(cacheRoot(), "image-debs");
  await mkdir(debs, { recursive: true });
  // apt-get download fetches the candidate version from the host's (Debian 12) sources.
  await run("apt-get", ["download", ...DEBIAN_PACKAGES], { cwd: debs });
  const files = (await readdir(debs)).filter((f) => f.endsWith(".deb"));
  const chosen: string[] = [];
  for (const pkg of DEBIAN_PACKAGES) {
    const versions = files.filter((f) => f.startsWith(`${pkg}_`)).sort();
    const newest = versions.at(-1);
    if (newest === undefined) throw new Error(`apt-get download left no ${pkg}_*.deb in ${debs}`);
    chosen.push(newest);
    const unpacked = join(dir, "..", `deb-${pkg}`);
    await run("dpkg-deb", ["-x", join(debs, newest), unpacked]);
    if (pkg === "ca-certificates") {
      const mozilla = join(unpacked, "usr/share/ca-certificates/mozilla");
      const pems = (await readdir(mozilla)).filter((f) => f.endsWith(".crt")).sort();
      const bundle = (await Promise.all(pems.map((f) => readFile(join(mozilla, f), "utf8")))).join("");
      await mkdir(join(dir, "etc/ssl/certs"), { recursive: true });
      await writeFile(join(dir, "etc/ssl/certs/ca-certificates.crt"), bundle, { mode: 0o644 });
    } else {
      // Everything but documentation and debugger helpers (distroless keeps the copyright files).
      for (const entry of await readdir(unpacked))
        await cp(join(unpacked, entry), join(dir, entry), {
          recursive: true,
          verbatimSymlinks: true,
          force: true,
        });
      for (const drop of [
        "usr/share/man",
        "usr/share/lintian",
        "usr/share/gdb",
        "usr/share/gcc",
        "usr/share/bug",
      ])
        await rm(join(dir, drop), { recursive: true, force: true });
    }
    const docs = join(dir, "usr/share/doc", pkg);
    await rm(docs, { recursive: true, force: true });
    await mkdir(docs, { recursive: true });
    // Some packages' doc directory is a symlink to their source package's (libgcc-s1 → gcc-12-base).
    const copyright = join(unpacked, "usr/share/doc", pkg, "copyright");
    if (existsSync(copyright)) await cp(copyright, join(docs, "copyright"));
    await rm(unpacked, { recursive: true, force: true });
  }
  for (const file of baseFiles()) {
    await mkdir(join(dir, dirname(file.path)), { recursive: true });
    await writeFile(join(dir, file.path), file.text, { mode: file.mode });
  }
  await mkdir(join(dir, "tmp"), { mode: 0o1777 });
  await run("chmod", ["1777", join(dir, "tmp")]);
  await mkdir(join(dir, "root"), { mode: 0o700 });
  await mkdir(join(dir, NONROOT.home), { recursive: true, mode: 0o700 });
  await run("chown", ["-R", "0:0", dir]);
  await run("chown", [`${NONROOT.uid}:${NONROOT.gid}`, join(dir, NONROOT.home)]);
  log(`base: ${chosen.join(", ")}`);
  return chosen;
}

/** One layer: the directory's tree as a deterministic tar.gz (GNU tar sorted, time 0; gzip without name or time). */
async function layer(dir: string, out: string): Promise<void> {
  await execFileAsync(
    "bash",
    [
      "-c",
      'set -o pipefail; tar --sort=name --mtime=@0 --numeric-owner --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -C "$1" -cf - . | gzip -n -6 > "$2"',
      "layer",
      dir,
      out,
    ],
    { maxBuffer: MIB },
  );
}

async function duBytes(dir: string): Promise<number> {
  return Number((await run("du", ["-sb", dir])).split(/\s/)[0]);
}

export interface BuiltImage {
  reference: string;
  digest: string;
  compressedBytes: number;
  uncompressedBytes: number;
  seconds: number;
  debianPackages: string[];
  nodeVersion: string;
}

export async function buildImage(options: {
  target: string;
  craneBinary: string;
  sleeperBinary: string;
  log: Progress;
}): Promise<BuiltImage> {
  const { log } = options;
  const started = performance.now();
  const work = await mkdtemp(join(tmpdir(), "prepull-image-"));
  try {
    const staged = {
      base: join(work, "base"),
      node: join(work, "node"),
      app: join(work, "app"),
      sleeper: join(work, "sleeper"),
    };
    for (const dir of Object.values(staged)) await mkdir(dir, { recursive: true });

    log("npm run build (dist/)");
    await run("npm", ["run", "build"], { cwd: REPO_ROOT });
    log("npm ci --omit=dev --ignore-scripts (production install)");
    const install = join(work, "install");
    await mkdir(install);
    for (const file of ["package.json", "package-lock.json"])
      await cp(join(REPO_ROOT, file), join(install, file));
    await run("npm", [...PRODUCTION_INSTALL], { cwd: install });

    const debianPackages = await stageDebianBase(staged.base, log);
    const nodeSource = join(REPO_ROOT, "node_modules/node/bin/node");
    const nodeVersion = await run(nodeSource, ["--version"]);
    await mkdir(join(staged.node, dirname(NODE_BINARY)), { recursive: true });
    await cp(nodeSource, join(staged.node, NODE_BINARY));

    const sources: Record<(typeof APP_FILES)[number]["source"], string> = {
      "production-install": install,
      build: REPO_ROOT,
      sleeper: dirname(options.sleeperBinary),
    };
    for (const file of APP_FILES) {
      const into = file.source === "sleeper" ? staged.sleeper : staged.app;
      await mkdir(join(into, dirname(file.to)), { recursive: true });
      await cp(join(sources[file.source], file.from), join(into, file.to), {
        recursive: true,
        verbatimSymlinks: true,
      });
    }
    for (const dir of [staged.node, staged.app, staged.sleeper]) await run("chown", ["-R", "0:0", dir]);
    await run("chmod", ["-R", "a+rX,go-w", staged.app]);
    await run("chmod", [
      "0755",
      join(staged.sleeper, "usr/local/bin/prepull-sleep"),
      join(staged.node, NODE_BINARY),
    ]);

    const layers: string[] = [];
    for (const [name, dir] of Object.entries(staged)) {
      const out = join(work, `${name}.tar.gz`);
      await layer(dir, out);
      layers.push(out);
      log(`layer ${name}: ${((await stat(out)).size / MIB).toFixed(1)} MiB compressed`);
    }
    const uncompressedBytes = (await Promise.all(Object.values(staged).map(duBytes))).reduce(
      (a, b) => a + b,
      0,
    );

    const crane = (args: string[]) => run(options.craneBinary, args);
    await crane(["append", "--oci-empty-base", ...layers.flatMap((f) => ["-f", f]), "-t", options.target]);
    await crane([
      "mutate",
      options.target,
      "--set-platform",
      "linux/amd64",
      "--entrypoint",
      IMAGE_CONFIG.entrypoint.join(","),
      "--user",
      IMAGE_CONFIG.user,
      "--workdir",
      IMAGE_CONFIG.workdir,
      ...Object.entries(IMAGE_CONFIG.env).flatMap(([k, v]) => ["--env", `${k}=${v}`]),
      ...IMAGE_CONFIG.exposedPorts.flatMap((p) => ["--exposed-ports", p]),
      "--label",
      "org.opencontainers.image.title=prepull",
      "--label",
      "org.opencontainers.image.source=https://github.com/prepull/prepull",
      "--label",
      "org.opencontainers.image.licenses=Apache-2.0",
      "-t",
      options.target,
    ]);
    const digest = await crane(["digest", options.target]);
    const manifest = JSON.parse(await crane(["manifest", options.target])) as {
      layers: { size: number }[];
      config: { size: number };
    };
    const compressedBytes = manifest.layers.reduce((sum, l) => sum + l.size, manifest.config.size);
    return {
      reference: options.target,
      digest,
      compressedBytes,
      uncompressedBytes,
      seconds: (performance.now() - started) / 1000,
      debianPackages,
      nodeVersion,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { push: { type: "string" } } });
  const log = progress("image");
  const paths = clusterPaths();
  const state = await readState(paths);
  if (state === undefined)
    throw new Error(
      "no local plane is running (npm run cluster:up): image:build pushes to its registry and uses its crane",
    );
  let target = values.push;
  if (target === undefined) {
    if (!state.realNode.enabled)
      throw new Error(
        `the local plane has no real node (${state.realNode.reason}), so no registry to push to; pass --push REF`,
      );
    target = `127.0.0.1:${state.realNode.ports.registry}/${LOCAL_IMAGE.repository}:${LOCAL_IMAGE.tag}`;
  }
  const built = await buildImage({
    target,
    craneBinary: join(state.binDir, "crane"),
    sleeperBinary: join(state.binDir, "prepull-sleep"),
    log,
  });
  log(
    `pushed ${built.reference}@${built.digest}: ${(built.compressedBytes / MIB).toFixed(1)} MiB compressed, ${(built.uncompressedBytes / MIB).toFixed(1)} MiB unpacked, node ${built.nodeVersion}, built in ${built.seconds.toFixed(1)} s`,
  );
  process.stdout.write(`${JSON.stringify(built)}\n`);
}

if (import.meta.main)
  main().catch((error: unknown) => {
    process.stderr.write(`image:build: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
