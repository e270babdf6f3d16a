import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from "node:fs";
import { request } from "node:https";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../support/kube-bin.ts";

// No Docker engine runs here, so this does on the host what the Dockerfile's stages do, and runs
// the result the way the runtime stage does: production dependencies only (npm ci --omit=dev),
// the built dist/, both in a directory the server cannot write to, started by `node dist/main.js`
// as a non-root uid with a read-only app directory and a certificate from certs/make-dev-certs.sh.

const nodeBin = join(repoRoot, "node_modules/.bin/node");
let dir = "";
let app = "";
let certs = "";
let server: ChildProcess | undefined;
let output = "";

/** As in the image: uid 65532. When the tests do not run as root they are non-root already. */
const asRoot = process.getuid?.() === 0;
const runAs = asRoot ? { uid: 65532, gid: 65532 } : {};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

function get(port: number, path: string, ca: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, ca, servername: "localhost" }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** Polls until the server answers at all; the test's timeout bounds it. */
async function waitForListening(port: number, ca: Buffer): Promise<void> {
  for (;;) {
    if (server?.exitCode !== null) throw new Error(`server exited early:\n${output}`);
    try {
      await get(port, "/healthz", ca);
      return;
    } catch {
      // Not listening yet (ECONNREFUSED): try again shortly.
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

function filesUnder(root: string): string[] {
  return readdirSync(root, { recursive: true, encoding: "utf8" });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "prepull-production-"));
  chmodSync(dir, 0o755);
  app = join(dir, "app");
  mkdirSync(app);
  copyFileSync(join(repoRoot, "package.json"), join(app, "package.json"));
  copyFileSync(join(repoRoot, "package-lock.json"), join(app, "package-lock.json"));
  // The Dockerfile's deps stage.
  execFileSync(
    "npm",
    ["ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline"],
    {
      cwd: app,
      stdio: ["ignore", "ignore", "inherit"],
    },
  );
  // The Dockerfile's build stage, with the output put where the runtime stage copies it.
  execFileSync(
    join(repoRoot, "node_modules/.bin/tsc"),
    ["-p", "tsconfig.build.json", "--outDir", join(app, "dist")],
    {
      cwd: repoRoot,
      stdio: "inherit",
    },
  );
  certs = join(dir, "certs");
  execFileSync("bash", [join(repoRoot, "certs/make-dev-certs.sh"), "--out", certs], { stdio: "ignore" });
  if (asRoot) {
    // Like the Secret volume with fsGroup: the server's uid can read its key, nothing else.
    chmodSync(certs, 0o755);
    for (const file of ["tls.crt", "tls.key", "ca.crt"]) chownSync(join(certs, file), 65532, 65532);
  }
  // The image's root filesystem is read-only.
  execFileSync("chmod", ["-R", "a-w", app]);
}, 600_000);

afterAll(() => {
  if (server !== undefined && server.exitCode === null) server.kill("SIGKILL");
  if (dir !== "") {
    execFileSync("chmod", ["-R", "u+w", dir]);
    rmSync(dir, { recursive: true, force: true });
  }
});

describe("the production install (what the image ships)", () => {
  it("holds production dependencies only, none of them native, so one build serves every architecture", () => {
    // package-lock.json marks every package only the development tools need with "dev": true.
    const lock = JSON.parse(readFileSync(join(repoRoot, "package-lock.json"), "utf8")) as {
      packages: Record<string, { dev?: boolean; optional?: boolean; devOptional?: boolean }>;
    };
    const entries = Object.entries(lock.packages).filter(([path]) => path.startsWith("node_modules/"));
    const dev = entries.filter(([, entry]) => entry.dev === true).map(([path]) => path);
    const production = entries
      .filter(([, entry]) => !entry.dev && !entry.optional && !entry.devOptional)
      .map(([path]) => path);
    expect(dev).toContain("node_modules/typescript");
    expect(production).toContain("node_modules/fastify");
    for (const path of dev) expect(existsSync(join(app, path)), path).toBe(false);
    for (const path of production) expect(existsSync(join(app, path)), path).toBe(true);
    const native = filesUnder(join(app, "node_modules")).filter(
      (f) => f.endsWith(".node") || f.endsWith("binding.gyp"),
    );
    expect(native).toEqual([]);
  });

  it("starts from the read-only directory as a non-root uid, answers /healthz and /readyz, and exits 0 on SIGTERM", async () => {
    const before = filesUnder(app).sort();
    const ca = readFileSync(join(certs, "ca.crt"));
    const port = await freePort();
    const scratch = join(dir, "tmp");
    mkdirSync(scratch);
    if (asRoot) chownSync(scratch, 65532, 65532);
    server = spawn(nodeBin, [join(app, "dist/main.js")], {
      ...runAs,
      cwd: app,
      // The environment the chart gives the container; no kubeconfig, so it serves without a cluster.
      env: {
        PORT: String(port),
        METRICS_PORT: "0",
        HOST: "127.0.0.1",
        TLS_CERT_FILE: join(certs, "tls.crt"),
        TLS_KEY_FILE: join(certs, "tls.key"),
        LOG_LEVEL: "info",
        POD_NAMESPACE: "prepull",
        SHUTDOWN_TIMEOUT_SECONDS: "5",
        NODE_ENV: "production",
        TMPDIR: scratch,
        HOME: scratch,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    server.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    server.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });

    await waitForListening(port, ca);
    const healthz = await get(port, "/healthz", ca);
    const readyz = await get(port, "/readyz", ca);
    expect(healthz.status, output).toBe(200);
    expect(readyz.status, output).toBe(200);

    server.kill("SIGTERM");
    const [code, signal] = await once(server, "exit");
    expect({ code, signal }, output).toEqual({ code: 0, signal: null });
    // Nothing was written into the app directory (it could not have been, and nothing tried to).
    expect(filesUnder(app).sort()).toEqual(before);
  });
});
