import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../support/kube-bin.ts";

// The contract the pre-pull DaemonSets rely on: the image's /usr/local/bin/prepull-sleep is built
// exactly as the Dockerfile builds it, `install <dest>` copies it into an emptyDir, and the copy,
// run as the main process of any image, blocks until SIGTERM and then exits 0.

const source = join(repoRoot, "cmd/prepull-sleep");
let dir = "";
let binary = "";

/** The flags the Dockerfile uses: static, stripped, no local paths. */
function goBuild(out: string, goarch: string): void {
  execFileSync("go", ["build", "-trimpath", "-ldflags", "-s -w", "-o", out, "."], {
    cwd: source,
    env: { ...process.env, CGO_ENABLED: "0", GOOS: "linux", GOARCH: goarch },
    stdio: ["ignore", "inherit", "inherit"],
  });
}

interface Elf {
  machine: number;
  programHeaderTypes: number[];
}

/** Just enough of an ELF64 little-endian header to tell the architecture and whether it is static. */
function readElf(path: string): Elf {
  const bytes = readFileSync(path);
  expect(bytes.subarray(0, 4).toString("latin1")).toBe("\x7fELF");
  expect(bytes[4]).toBe(2); // 64-bit
  expect(bytes[5]).toBe(1); // little-endian
  const phoff = Number(bytes.readBigUInt64LE(0x20));
  const phentsize = bytes.readUInt16LE(0x36);
  const phnum = bytes.readUInt16LE(0x38);
  const programHeaderTypes: number[] = [];
  for (let i = 0; i < phnum; i++) programHeaderTypes.push(bytes.readUInt32LE(phoff + i * phentsize));
  return { machine: bytes.readUInt16LE(0x12), programHeaderTypes };
}

const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const EM_X86_64 = 0x3e;
const EM_AARCH64 = 0xb7;

/** Non-root when the tests run as root, so "runs as any non-root uid" is what is exercised. */
const runAs = process.getuid?.() === 0 ? { uid: 65532, gid: 65532 } : {};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "prepull-sleep-"));
  // The copy runs as another uid, which must be able to reach it.
  chmodSync(dir, 0o755);
  binary = join(dir, "prepull-sleep");
  goBuild(binary, process.arch === "arm64" ? "arm64" : "amd64");
}, 600_000);

afterAll(() => {
  if (dir !== "") rmSync(dir, { recursive: true, force: true });
});

describe("prepull-sleep", () => {
  it("is a static executable (no interpreter, no dynamic section), so it runs in scratch images", () => {
    const elf = readElf(binary);
    expect(elf.programHeaderTypes).not.toContain(PT_INTERP);
    expect(elf.programHeaderTypes).not.toContain(PT_DYNAMIC);
  });

  it("cross-compiles for both architectures the image is built for", () => {
    for (const [goarch, machine] of [
      ["amd64", EM_X86_64],
      ["arm64", EM_AARCH64],
    ] as const) {
      const out = join(dir, `cross-${goarch}`);
      goBuild(out, goarch);
      const elf = readElf(out);
      expect(elf.machine).toBe(machine);
      expect(elf.programHeaderTypes).not.toContain(PT_INTERP);
    }
    // A cold cross-compile builds Go's standard library for the other architecture first.
  }, 600_000);

  it("install copies itself, executable by anyone, and the copy exits 0 at once on SIGTERM", async () => {
    const dest = join(dir, "sleep-copy");
    execFileSync(binary, ["install", dest], { stdio: "inherit" });
    expect(statSync(dest).mode & 0o777).toBe(0o755);
    expect(readFileSync(dest).equals(readFileSync(binary))).toBe(true);

    const child = spawn(dest, [], { ...runAs, stdio: ["ignore", "ignore", "pipe"] });
    // The binary announces itself only after its handler is installed; before that a SIGTERM
    // would kill it by the runtime's default action, which is not what is under test.
    const [line] = await once(child.stderr, "data");
    expect(String(line)).toContain("exits on SIGTERM");
    expect(child.exitCode).toBeNull();
    expect(child.kill("SIGTERM")).toBe(true);
    const [code, signal] = await once(child, "exit");
    expect({ code, signal }).toEqual({ code: 0, signal: null });
  });

  it("exits 0 on SIGINT too", async () => {
    const child = spawn(binary, [], { ...runAs, stdio: ["ignore", "ignore", "pipe"] });
    await once(child.stderr, "data");
    child.kill("SIGINT");
    const [code, signal] = await once(child, "exit");
    expect({ code, signal }).toEqual({ code: 0, signal: null });
  });

  it("install creates no directories: a missing destination directory is an error", () => {
    const dest = join(dir, "missing", "prepull-sleep");
    expect(() => execFileSync(binary, ["install", dest], { stdio: "pipe" })).toThrow(/no such file/);
  });

  it("rejects unknown arguments with exit code 2", () => {
    let status: number | null = null;
    try {
      execFileSync(binary, ["bogus"], { stdio: "pipe" });
    } catch (error) {
      status = (error as { status: number | null }).status;
    }
    expect(status).toBe(2);
  });
});
