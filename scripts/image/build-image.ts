// Builds prepull's image without Docker, from what scripts/image/recipe.ts lists: a distroless-like
// root file system from Debian 12 packages (fetched with apt-get, unpacked with dpkg-deb), the
// official Node.js binary from npm (`node-linux-<arch>`, the version of the project's own `node`
// package), the production install, the compiled output and the static sleeper. Each part is one
// layer, written with GNU tar deterministically (sorted names, time 0, numeric owners), and crane
// assembles one image per platform (linux/amd64, linux/arm64) and pushes them under one index.
//
//   npm run image:build                 # to the local plane's registry as registry.prepull.test/prepull/prepull:dev
//   npm run image:build -- --push REF   # anywhere crane can push (e.g. a registry on loopback)
//
// No emulation and nothing set up on the machine: the production install and the compiled output
// are platform independent (no native addons), the sleeper is cross-compiled by
// scripts/build-kube.sh, and each platform's Debian packages come from the machine's own apt
// sources through an apt state of their own (`APT::Architecture`), kept in the cache.
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
  type Arch,
  baseFiles,
  DEBIAN_PACKAGES,
  IMAGE_CONFIG,
  LOCAL_IMAGE,
  NODE_BINARY,
  NODE_PACKAGES,
  NONROOT,
  PLATFORMS,
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

/**
 * apt-get options for one architecture's packages, from the machine's sources (Debian 12) but with
 * a package index and cache of their own: dpkg's architectures and the machine's apt state are
 * left alone.
 */
async function aptFor(arch: Arch): Promise<string[]> {
  const root = join(cacheRoot(), "image-apt", arch);
  await mkdir(join(root, "state/lists/partial"), { recursive: true });
  await mkdir(join(root, "cache/archives/partial"), { recursive: true });
  await writeFile(join(root, "status"), "", { flag: "a" });
  return [
    "-o",
    `APT::Architecture=${arch}`,
    "-o",
    `APT::Architectures::=${arch}`,
    "-o",
    `Dir::State=${join(root, "state")}`,
    "-o",
    `Dir::State::status=${join(root, "status")}`,
    "-o",
    `Dir::Cache=${join(root, "cache")}`,
    "-o",
    "Debug::NoLocking=1",
  ];
}

/** Debian's files of the base: libraries, zoneinfo, netbase's tables; the CA bundle made as update-ca-certificates makes it. */
async function stageDebianBase(dir: string, arch: Arch, log: Progress): Promise<string[]> {
  const debs = join(cacheRoot(), "image-debs", arch);
  await mkdir(debs, { recursive: true });
  const apt = await aptFor(arch);
  // Each build reads the sources afresh and fetches their candidate versions (security updates).
  await run("apt-get", [...apt, "update"]);
  await run("apt-get", [...apt, "download", ...DEBIAN_PACKAGES], { cwd: debs });
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
  log(`base (${arch}): ${chosen.join(", ")}`);
  return chosen;
}

/** The official Node.js binary for one platform, from npm, cached by version. */
async function nodeBinary(arch: Arch, version: string, log: Progress): Promise<string> {
  const dir = join(cacheRoot(), "image-node", `${NODE_PACKAGES[arch]}-${version}`);
  const binary = join(dir, "package", "bin", "node");
  if (existsSync(binary)) return binary;
  await mkdir(dir, { recursive: true });
  log(`npm pack ${NODE_PACKAGES[arch]}@${version}`);
  const packed = JSON.parse(
    await run("npm", ["pack", `${NODE_PACKAGES[arch]}@${version}`, "--json", "--pack-destination", dir]),
  ) as { filename: string }[];
  const tarball = packed[0]?.filename;
  if (tarball === undefined)
    throw new Error(`npm pack ${NODE_PACKAGES[arch]}@${version} produced no tarball`);
  await run("tar", ["-xzf", join(dir, tarball), "-C", dir]);
  if (!existsSync(binary)) throw new Error(`${NODE_PACKAGES[arch]}@${version} has no bin/node`);
  return binary;
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

/** One platform's image, pushed under its own tag (`<tag>-linux-<arch>`) as well as in the index. */
export interface PlatformImage {
  arch: Arch;
  reference: string;
  digest: string;
  compressedBytes: number;
  uncompressedBytes: number;
}

export interface BuiltImage {
  reference: string;
  /** The index's digest: what a node pulls, each resolving it to the image of its own platform. */
  digest: string;
  platforms: PlatformImage[];
  /** The linux/amd64 image's sizes (compared with the distroless-based image in the README). */
  compressedBytes: number;
  uncompressedBytes: number;
  seconds: number;
  /** The Debian packages of the linux/amd64 base, with versions. */
  debianPackages: string[];
  nodeVersion: string;
}

/** `repo:tag` → `repo:tag-linux-<arch>`; `repo` → `repo:linux-<arch>`. */
export function platformReference(target: string, arch: Arch): string {
  const lastSlash = target.lastIndexOf("/");
  const hasTag = target.slice(lastSlash + 1).includes(":");
  return hasTag ? `${target}-linux-${arch}` : `${target}:linux-${arch}`;
}

export async function buildImage(options: {
  target: string;
  craneBinary: string;
  /** The static sleeper of each platform (scripts/build-kube.sh: prepull-sleep-linux-<arch>). */
  sleeperBinaries: Record<Arch, string>;
  platforms?: readonly Arch[];
  log: Progress;
}): Promise<BuiltImage> {
  const { log } = options;
  const platforms = options.platforms ?? PLATFORMS;
  const started = performance.now();
  const work = await mkdtemp(join(tmpdir(), "prepull-image-"));
  const crane = (args: string[]) => run(options.craneBinary, args);
  try {
    log("npm run build (dist/)");
    await run("npm", ["run", "build"], { cwd: REPO_ROOT });
    log("npm ci --omit=dev --ignore-scripts (production install)");
    const install = join(work, "install");
    await mkdir(install);
    for (const file of ["package.json", "package-lock.json"])
      await cp(join(REPO_ROOT, file), join(install, file));
    await run("npm", [...PRODUCTION_INSTALL], { cwd: install });

    // The application layer is the same for every platform: JavaScript and JSON only.
    const app = join(work, "app");
    const appSources = { "production-install": install, build: REPO_ROOT } as const;
    for (const file of APP_FILES) {
      if (file.source === "sleeper") continue;
      await mkdir(join(app, dirname(file.to)), { recursive: true });
      await cp(join(appSources[file.source], file.from), join(app, file.to), {
        recursive: true,
        verbatimSymlinks: true,
      });
    }
    await run("chown", ["-R", "0:0", app]);
    await run("chmod", ["-R", "a+rX,go-w", app]);
    const appLayer = join(work, "app.tar.gz");
    await layer(app, appLayer);
    const appBytes = await duBytes(app);
    log(`layer app: ${((await stat(appLayer)).size / MIB).toFixed(1)} MiB compressed`);

    const version = (
      JSON.parse(await readFile(join(REPO_ROOT, "node_modules/node/package.json"), "utf8")) as {
        version: string;
      }
    ).version;
    const sleeperFile = APP_FILES.find((file) => file.source === "sleeper");
    if (sleeperFile === undefined) throw new Error("the recipe lists no sleeper");
    const images: PlatformImage[] = [];
    let debianPackages: string[] = [];
    for (const arch of platforms) {
      const staged = {
        base: join(work, arch, "base"),
        node: join(work, arch, "node"),
        sleeper: join(work, arch, "sleeper"),
      };
      for (const dir of Object.values(staged)) await mkdir(dir, { recursive: true });
      const packages = await stageDebianBase(staged.base, arch, log);
      if (arch === "amd64") debianPackages = packages;
      await mkdir(join(staged.node, dirname(NODE_BINARY)), { recursive: true });
      await cp(await nodeBinary(arch, version, log), join(staged.node, NODE_BINARY));
      await mkdir(join(staged.sleeper, dirname(sleeperFile.to)), { recursive: true });
      await cp(options.sleeperBinaries[arch], join(staged.sleeper, sleeperFile.to));
      for (const dir of [staged.node, staged.sleeper]) await run("chown", ["-R", "0:0", dir]);
      await run("chmod", ["0755", join(staged.sleeper, sleeperFile.to), join(staged.node, NODE_BINARY)]);

      const layers: string[] = [];
      for (const [name, dir] of [
        ["base", staged.base],
        ["node", staged.node],
        ["app", undefined],
        ["sleeper", staged.sleeper],
      ] as const) {
        if (dir === undefined) {
          layers.push(appLayer);
          continue;
        }
        const out = join(work, arch, `${name}.tar.gz`);
        await layer(dir, out);
        layers.push(out);
        log(`layer ${name} (${arch}): ${((await stat(out)).size / MIB).toFixed(1)} MiB compressed`);
      }
      const uncompressedBytes =
        appBytes + (await Promise.all(Object.values(staged).map(duBytes))).reduce((a, b) => a + b, 0);

      const reference = platformReference(options.target, arch);
      await crane(["append", "--oci-empty-base", ...layers.flatMap((f) => ["-f", f]), "-t", reference]);
      await crane([
        "mutate",
        reference,
        "--set-platform",
        `linux/${arch}`,
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
        reference,
      ]);
      const digest = await crane(["digest", reference]);
      const manifest = JSON.parse(await crane(["manifest", reference])) as {
        layers: { size: number }[];
        config: { size: number };
      };
      const compressedBytes = manifest.layers.reduce((sum, l) => sum + l.size, manifest.config.size);
      images.push({ arch, reference, digest, compressedBytes, uncompressedBytes });
      log(`linux/${arch}: ${reference}@${digest}`);
    }
    // One index over the platforms' images: a node pulls the one of its own platform.
    await crane([
      "index",
      "append",
      ...images.flatMap((i) => ["-m", `${i.reference}@${i.digest}`]),
      "-t",
      options.target,
    ]);
    const first = images.find((i) => i.arch === "amd64") ?? images[0];
    if (first === undefined) throw new Error("no platform to build the image for");
    return {
      reference: options.target,
      digest: await crane(["digest", options.target]),
      platforms: images,
      compressedBytes: first.compressedBytes,
      uncompressedBytes: first.uncompressedBytes,
      seconds: (performance.now() - started) / 1000,
      debianPackages,
      nodeVersion: `v${version}`,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The sleepers scripts/build-kube.sh cross-compiles for the image. */
export function sleeperBinaries(binDir: string): Record<Arch, string> {
  return {
    amd64: join(binDir, "prepull-sleep-linux-amd64"),
    arm64: join(binDir, "prepull-sleep-linux-arm64"),
  };
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
    sleeperBinaries: sleeperBinaries(state.binDir),
    log,
  });
  log(
    `pushed ${built.reference}@${built.digest} (${built.platforms.map((p) => `linux/${p.arch}`).join(", ")}): linux/amd64 ${(built.compressedBytes / MIB).toFixed(1)} MiB compressed, ${(built.uncompressedBytes / MIB).toFixed(1)} MiB unpacked, node ${built.nodeVersion}, built in ${built.seconds.toFixed(1)} s`,
  );
  process.stdout.write(`${JSON.stringify(built)}\n`);
}

if (import.meta.main)
  main().catch((error: unknown) => {
    process.stderr.write(`image:build: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
