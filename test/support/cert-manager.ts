// cert-manager for the end-to-end chart tests: its CRDs (and the Prometheus Operator's
// ServiceMonitor CRD, for the chart's optional ServiceMonitor) from their Go modules, and
// cert-manager's own controllers and CA injector built from its module's packages by
// test/support/cert-manager-lite (the Go proxy does not serve cert-manager's command modules).
// Everything is cached outside the repository: modules in Go's module cache, the binary under
// ~/.cache/prepull, keyed by the wrapper's sources.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "./kube-bin.ts";

const CERT_MANAGER_VERSION = "v1.21.2";
const PROMETHEUS_OPERATOR_VERSION = "v0.85.0";

const liteSource = join(repoRoot, "test/support/cert-manager-lite");

/** Downloads (once) a module through the Go module proxy and returns its directory. */
function goModuleDir(module: string, version: string): string {
  const json = execFileSync("go", ["mod", "download", "-json", `${module}@${version}`], {
    encoding: "utf8",
    // Outside any module, so the repository's Go modules are not consulted.
    cwd: homedir(),
  });
  const info = JSON.parse(json) as { Dir?: string; Error?: string };
  if (info.Dir === undefined) throw new Error(`go mod download ${module}@${version}: ${info.Error ?? json}`);
  return info.Dir;
}

/**
 * The CRD files: cert-manager's (plain YAML in deploy/crds of its module, not Helm-templated) and
 * the ServiceMonitor CRD from the Prometheus Operator's module.
 */
export function thirdPartyCrdFiles(): string[] {
  const certManager = join(
    goModuleDir("github.com/cert-manager/cert-manager", CERT_MANAGER_VERSION),
    "deploy/crds",
  );
  const files = readdirSync(certManager)
    .filter((f) => f.endsWith(".yaml"))
    .map((f) => join(certManager, f));
  const prometheus = goModuleDir(
    "github.com/prometheus-operator/prometheus-operator",
    PROMETHEUS_OPERATOR_VERSION,
  );
  files.push(join(prometheus, "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"));
  for (const file of files) if (!existsSync(file)) throw new Error(`CRD file missing: ${file}`);
  return files;
}

/** Builds test/support/cert-manager-lite once per version of its sources; returns the binary. */
export function certManagerLiteBinary(): string {
  const hash = createHash("sha256");
  for (const file of ["go.mod", "go.sum", "main.go"]) hash.update(readFileSync(join(liteSource, file)));
  const cache = process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache");
  const dir = join(
    cache,
    "prepull",
    `cert-manager-lite-${CERT_MANAGER_VERSION}-${hash.digest("hex").slice(0, 12)}`,
  );
  const binary = join(dir, "cert-manager-lite");
  if (existsSync(binary)) return binary;
  mkdirSync(dir, { recursive: true });
  process.stderr.write(
    `building cert-manager-lite (cert-manager ${CERT_MANAGER_VERSION}) into ${dir}; minutes when cold\n`,
  );
  execFileSync("go", ["build", "-trimpath", "-ldflags", "-s -w", "-o", binary, "."], {
    cwd: liteSource,
    env: { ...process.env, CGO_ENABLED: "0", GOFLAGS: "-mod=readonly" },
    stdio: ["ignore", "inherit", "inherit"],
  });
  return binary;
}
