// Test images for the real node, made without Docker: layers are written here (tar + gzip,
// deterministic: fixed names, times and owners, content from a seeded keystream), cached under
// ~/.cache/prepull/images, and assembled and pushed with crane. The same inputs give the same
// digests on every machine, so tests can pin them.
import { execFile } from "node:child_process";
import { createCipheriv, createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rename, stat } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import { createGzip } from "node:zlib";
import { pack } from "tar-stream";
import type { Progress } from "../progress.ts";
import { REGISTRY_HOST } from "./layout.ts";

const execFileAsync = promisify(execFile);
const MIB = 1024 * 1024;
/** The large images come in this many equal layers (the kubelet's pull unpacks them in turn). */
const LARGE_LAYERS = 4;

/** One file in a layer: random bytes of a size, or the bytes of a file on this machine. */
type LayerFile =
  | { path: string; mode: number; randomBytes: number; seed: string }
  | { path: string; mode: number; fromFile: string }
  | { path: string; mode: number; text: string };

export interface TestImage {
  /** The reference pods use: `registry.prepull.test/<repository>:<tag>`. */
  reference: string;
  repository: string;
  tag: string;
  layers: LayerFile[][];
  entrypoint: string;
}

function image(repository: string, tag: string, layers: LayerFile[][], entrypoint: string): TestImage {
  return { reference: `${REGISTRY_HOST}/${repository}:${tag}`, repository, tag, layers, entrypoint };
}

/** The size of the large test image, in MiB (PREPULL_LARGE_IMAGE_MIB; 1 GiB by default). */
export function largeImageMib(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.PREPULL_LARGE_IMAGE_MIB ?? "1024";
  const mib = Number(raw);
  if (!Number.isInteger(mib) || mib < 4 || mib > 65536 || mib % LARGE_LAYERS !== 0)
    throw new Error(`PREPULL_LARGE_IMAGE_MIB must be a multiple of 4 from 4 to 65536, got "${raw}"`);
  return mib;
}

/** Every image the real node's tests and demo use, given the sleeper binary and the large image size. */
export function testImages(sleeperBinary: string, largeMib: number) {
  const sleeperAt = (path: string): LayerFile => ({ path, mode: 0o755, fromFile: sleeperBinary });
  const random = (name: string, mib: number): LayerFile => ({
    path: `/data/${name}`,
    mode: 0o644,
    randomBytes: mib * MIB,
    seed: name,
  });
  const layerMib = largeMib / LARGE_LAYERS;
  const large = (repository: string, seed: string) =>
    image(
      repository,
      `${largeMib}mib`,
      [
        ...Array.from({ length: LARGE_LAYERS }, (_, i) => [random(`${seed}-${largeMib}mib-${i}`, layerMib)]),
        // Runnable: a pod of the large image starts its sleeper, so pod start can be timed.
        [sleeperAt("/usr/local/bin/prepull-sleep")],
      ],
      "/usr/local/bin/prepull-sleep",
    );
  return {
    /** prepull's sleeper: the pods' sandbox (pause) image, and the pre-pull DaemonSets' init image. */
    sleeper: image(
      "prepull/sleeper",
      "dev",
      [[sleeperAt("/usr/local/bin/prepull-sleep")]],
      "/usr/local/bin/prepull-sleep",
    ),
    /** Large, incompressible: what a cold pull costs. */
    large: large("test/large", "large"),
    /** The same size, other bytes: the demo's twin workload that is not opted in. */
    largeTwin: large("test/large-twin", "large-twin"),
    /** Nothing but one static binary (`FROM scratch`). */
    scratch: image("test/scratch-static", "1", [[sleeperAt("/prepull-sleep")]], "/prepull-sleep"),
    /** A distroless-like file system with no shell anywhere. */
    noShell: image(
      "test/no-shell",
      "1",
      [
        [
          {
            path: "/etc/passwd",
            mode: 0o644,
            text: "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
          },
          { path: "/etc/os-release", mode: 0o644, text: 'NAME="prepull test"\nID=prepull-test\n' },
          sleeperAt("/usr/local/bin/app"),
        ],
      ],
      "/usr/local/bin/app",
    ),
    /** Small distinct images, for tests that need several. */
    smallA: image("test/small", "a", [[random("small-a", 1)]], "/none"),
    smallB: image("test/small", "b", [[random("small-b", 1)]], "/none"),
    smallC: image("test/small", "c", [[random("small-c", 1)]], "/none"),
  };
}
export type TestImages = ReturnType<typeof testImages>;

/** A deterministic, incompressible byte stream: AES-256-CTR over zeros, keyed by the seed. */
async function* keystream(seed: string, bytes: number): AsyncGenerator<Buffer> {
  const key = createHash("sha256").update(`prepull-test-image/${seed}`).digest();
  const cipher = createCipheriv("aes-256-ctr", key, Buffer.alloc(16));
  const zeros = Buffer.alloc(MIB);
  for (let left = bytes; left > 0; left -= MIB) yield cipher.update(zeros.subarray(0, Math.min(MIB, left)));
}

async function writeLayer(files: LayerFile[], out: string): Promise<void> {
  const tar = pack();
  const written = (async () => {
    for (const file of files) {
      const header = {
        name: file.path.replace(/^\//, ""),
        mode: file.mode,
        mtime: new Date(0),
        uid: 0,
        gid: 0,
        uname: "",
        gname: "",
      };
      if ("text" in file) {
        tar.entry(header, file.text);
        continue;
      }
      const size = "randomBytes" in file ? file.randomBytes : (await stat(file.fromFile)).size;
      const entry = tar.entry({ ...header, size });
      const source =
        "randomBytes" in file ? keystream(file.seed, file.randomBytes) : createReadStream(file.fromFile);
      await pipeline(source, entry);
    }
    tar.finalize();
  })();
  // Stored deflate blocks (level 0): random data does not compress, and for it deflate at any level
  // falls back to stored blocks anyway, so the node unpacks the same kind of stream, while making
  // the layer takes seconds instead of minutes. gzip is still what registries serve.
  await Promise.all([written, pipeline(tar, createGzip({ level: 0 }), createWriteStream(out))]);
}

function layerKey(files: LayerFile[]): string {
  const hash = createHash("sha256");
  for (const file of files) hash.update(JSON.stringify(file));
  return hash.digest("hex").slice(0, 24);
}

/** The layer's .tar.gz in the cache, written once (atomically) per distinct content. */
async function cachedLayer(cacheDir: string, files: LayerFile[], sleeperHash: string): Promise<string> {
  const usesSleeper = files.some((f) => "fromFile" in f);
  const path = join(cacheDir, `${layerKey(files)}${usesSleeper ? `-${sleeperHash}` : ""}.tar.gz`);
  try {
    await stat(path);
    return path;
  } catch {
    const partial = `${path}.${process.pid}.partial`;
    await writeLayer(files, partial);
    await rename(partial, path);
    return path;
  }
}

async function crane(craneBinary: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync(craneBinary, args, { maxBuffer: 16 * MIB });
    return stdout.trim();
  } catch (error) {
    const stderr = String((error as { stderr?: string }).stderr ?? (error as Error).message).trim();
    throw new Error(`crane ${args[0]} failed: ${stderr}`);
  }
}

export interface PushOptions {
  craneBinary: string;
  /** The registry's own (unthrottled) loopback port: pushes are not what is measured. */
  registryPort: number;
  cacheDir: string;
  sleeperHash: string;
  /** linux/amd64 or linux/arm64: the node's platform. */
  platform: string;
  log: Progress;
}

/** Makes (or reuses) each image's layers and pushes it; returns reference → manifest digest. */
export async function pushTestImages(
  images: TestImages,
  options: PushOptions,
): Promise<Record<string, string>> {
  await mkdir(options.cacheDir, { recursive: true });
  const digests: Record<string, string> = {};
  for (const img of Object.values(images)) {
    const bytes = img.layers.flat().reduce((sum, f) => sum + ("randomBytes" in f ? f.randomBytes : 0), 0);
    const started = options.log.elapsedSeconds();
    const layerFiles: string[] = [];
    for (const [index, files] of img.layers.entries()) {
      if (bytes >= 64 * MIB) options.log(`image ${img.reference}: layer ${index + 1}/${img.layers.length}`);
      layerFiles.push(await cachedLayer(options.cacheDir, files, options.sleeperHash));
    }
    const target = `127.0.0.1:${options.registryPort}/${img.repository}:${img.tag}`;
    await crane(options.craneBinary, [
      "append",
      "--oci-empty-base",
      ...layerFiles.flatMap((f) => ["-f", f]),
      "-t",
      target,
    ]);
    await crane(options.craneBinary, [
      "mutate",
      target,
      "--set-platform",
      options.platform,
      "--entrypoint",
      img.entrypoint,
      "-t",
      target,
    ]);
    digests[img.reference] = await crane(options.craneBinary, ["digest", target]);
    if (bytes >= 64 * MIB)
      options.log(
        `image ${img.reference} pushed (${Math.round(bytes / MIB)} MiB, ${(options.log.elapsedSeconds() - started).toFixed(1)} s)`,
      );
  }
  return digests;
}
