import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { kubeBin, kubeVersion, repoRoot } from "./kube-bin.ts";

export const chartDir: string = join(repoRoot, "charts/prepull");

/** A Kubernetes object as rendered: only the fields every manifest has are typed. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

export interface HelmResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the cached helm binary with its state dirs in a throwaway place, so tests neither read nor
 * write the user's helm configuration.
 */
export function helm(args: readonly string[]): HelmResult {
  const home = mkdtempSync(join(tmpdir(), "prepull-helm-"));
  try {
    const result = spawnSync(kubeBin("helm"), args, {
      cwd: repoRoot,
      encoding: "utf8",
      env: {
        PATH: process.env.PATH ?? "",
        HOME: home,
        HELM_CACHE_HOME: join(home, "cache"),
        HELM_CONFIG_HOME: join(home, "config"),
        HELM_DATA_HOME: join(home, "data"),
      },
      maxBuffer: 64 * 1024 * 1024,
    });
    if (result.error !== undefined) throw result.error;
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

export interface RenderOptions {
  release?: string;
  namespace?: string;
  /** Values, passed as a file (JSON is YAML), so types arrive exactly as written. */
  values?: Record<string, unknown>;
  /** Extra helm arguments, e.g. ["--show-only", "templates/certificates.yaml"]. */
  args?: readonly string[];
}

/** `helm template` with the given values; returns helm's result without judging it. */
export function helmTemplateRaw(options: RenderOptions = {}): HelmResult {
  const dir = mkdtempSync(join(tmpdir(), "prepull-values-"));
  try {
    const valuesFile = join(dir, "values.json");
    writeFileSync(valuesFile, JSON.stringify(options.values ?? {}));
    return helm([
      "template",
      options.release ?? "prepull",
      chartDir,
      "--namespace",
      options.namespace ?? "prepull",
      "--values",
      valuesFile,
      // helm built from source reports an old default Kubernetes version; render for the real one.
      "--kube-version",
      kubeVersion(),
      ...(options.args ?? []),
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Parses a multi-document YAML stream into objects, skipping empty documents. */
export function parseManifests(text: string): Manifest[] {
  const manifests: Manifest[] = [];
  for (const document of parseAllDocuments(text)) {
    if (document.errors.length > 0) throw new Error(`invalid YAML: ${document.errors[0]?.message}`);
    const value: unknown = document.toJS();
    if (value === null || value === undefined) continue;
    manifests.push(value as Manifest);
  }
  return manifests;
}

/** `helm template`, failing with helm's message if it fails; returns the rendered objects. */
export function renderChart(options: RenderOptions = {}): Manifest[] {
  const result = helmTemplateRaw(options);
  if (result.status !== 0) throw new Error(`helm template failed (${result.status}):\n${result.stderr}`);
  return parseManifests(result.stdout);
}

/** The one rendered object of a kind (and name, when several share the kind); throws otherwise. */
export function findManifest(manifests: readonly Manifest[], kind: string, name?: string): Manifest {
  const found = manifests.filter((m) => m.kind === kind && (name === undefined || m.metadata.name === name));
  if (found.length !== 1) {
    const names = manifests.map((m) => `${m.kind}/${m.metadata.name}`).join(", ");
    throw new Error(
      `expected one ${kind}${name === undefined ? "" : `/${name}`}, found ${found.length} in: ${names}`,
    );
  }
  return found[0] as Manifest;
}
