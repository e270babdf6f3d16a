import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { findManifest, renderChart } from "../support/helm.ts";
import { repoRoot } from "../support/kube-bin.ts";

// No Docker engine runs here, so the Dockerfile is never built in these tests. What can be checked
// without building it: that it agrees with everything that relies on it (the chart, the DaemonSet
// contract, the sleeper test, package.json) and that .dockerignore lets through what it copies.
const dockerfile = readFileSync(join(repoRoot, "Dockerfile"), "utf8");
const dockerignore = readFileSync(join(repoRoot, ".dockerignore"), "utf8")
  .split("\n")
  .filter((line) => line.trim() !== "" && !line.startsWith("#"));
const stages = dockerfile.split(/^FROM /m).slice(1);
const runtime = stages.at(-1) ?? "";

describe("Dockerfile", () => {
  it("is multi-stage: Node build, production dependencies, Go sleeper, distroless Node runtime", () => {
    expect(stages).toHaveLength(4);
    expect(runtime).toMatch(/^gcr\.io\/distroless\/nodejs\d+-debian\d+:nonroot/);
    expect(dockerfile).toContain("npm ci --omit=dev");
    expect(dockerfile).toContain("npm run build");
  });

  it("runs on the Node major version package.json requires", () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
      engines: { node: string };
    };
    const major = /(\d+)/.exec(pkg.engines.node)?.[1];
    expect(dockerfile).toContain(`ARG NODE_VERSION=${major}`);
    expect(runtime).toContain(`nodejs${major}-`);
  });

  it("runs as the non-root uid and gid the chart's securityContext sets", () => {
    const values = renderChart();
    const pod = findManifest(values, "Deployment").spec as { template: { spec: V1Pod["spec"] } };
    const security = pod.template.spec?.securityContext;
    expect(runtime).toContain(`USER ${security?.runAsUser}:${security?.runAsGroup}`);
  });

  it("ships the sleeper where the DaemonSets run it, built static and stripped as the sleeper test builds it", () => {
    expect(runtime).toContain("/usr/local/bin/prepull-sleep");
    expect(dockerfile).toMatch(/CGO_ENABLED=0 GOOS=\$TARGETOS GOARCH=\$TARGETARCH/);
    expect(dockerfile).toContain('go build -trimpath -ldflags "-s -w"');
  });

  it("starts dist/main.js with the node binary the helm test pod also uses", () => {
    const testPod = findManifest(renderChart(), "Pod") as unknown as V1Pod;
    const node = testPod.spec?.containers[0]?.command?.[0];
    expect(runtime).toContain(`ENTRYPOINT ["${node}", "/app/dist/main.js"]`);
    // dist/*.js are ES modules only because package.json says "type": "module".
    expect(runtime).toContain("COPY --from=deps /app/package.json ./package.json");
  });

  it("carries OCI labels", () => {
    for (const label of ["title", "description", "source", "licenses", "version", "revision", "created"]) {
      expect(runtime).toContain(`org.opencontainers.image.${label}=`);
    }
  });

  it(".dockerignore excludes everything except what the Dockerfile copies", () => {
    expect(dockerignore[0]).toBe("**");
    const copied = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) =>
      (m[1] ?? "").split(" "),
    );
    expect(copied.length).toBeGreaterThan(0);
    for (const path of copied) expect(dockerignore, path).toContain(`!${path.replace(/\/$/, "")}`);
  });
});
