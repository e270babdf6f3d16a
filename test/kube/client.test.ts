import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadKubeConfig } from "../../src/kube/client.ts";
import { createLogger } from "../../src/log.ts";
import { makeTempDir } from "../support/temp-dir.ts";

let dir: string;

beforeAll(() => {
  dir = makeTempDir("kubeconfig");
  writeFileSync(
    join(dir, "good"),
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters: [{name: dev, cluster: {server: 'https://127.0.0.1:6443'}}]",
      "users: [{name: me, user: {token: abc}}]",
      "contexts: [{name: dev, context: {cluster: dev, user: me}}]",
      "current-context: dev",
    ].join("\n"),
  );
  writeFileSync(
    join(dir, "no-context"),
    "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n",
  );
  writeFileSync(join(dir, "garbage"), "{{{ not yaml");
  const account = join(dir, "pod", "var", "run", "secrets", "kubernetes.io", "serviceaccount");
  mkdirSync(account, { recursive: true });
  writeFileSync(join(account, "token"), "token");
  writeFileSync(join(account, "ca.crt"), "ca");
});

function capture() {
  const lines: { level: number; msg: string }[] = [];
  const logger = createLogger("info", { write: (line: string) => lines.push(JSON.parse(line)) });
  return { lines, logger };
}

describe("loadKubeConfig", () => {
  it("loads a usable KUBECONFIG and does not warn", () => {
    const { lines, logger } = capture();
    const kubeConfig = loadKubeConfig(
      { kubeconfig: join(dir, "good"), kubernetesServiceHost: undefined },
      logger,
    );
    expect(kubeConfig?.getCurrentCluster()?.server).toBe("https://127.0.0.1:6443");
    expect(lines.filter((line) => line.level >= 40)).toEqual([]);
  });

  it("prefers KUBECONFIG over the in-cluster service account", () => {
    const { logger } = capture();
    const kubeConfig = loadKubeConfig(
      { kubeconfig: join(dir, "good"), kubernetesServiceHost: "10.96.0.1" },
      logger,
      {
        serviceAccountPrefix: join(dir, "pod"),
      },
    );
    expect(kubeConfig?.getCurrentContext()).toBe("dev");
  });

  it("uses the service account when KUBERNETES_SERVICE_HOST is set and the token is mounted", () => {
    const { lines, logger } = capture();
    const kubeConfig = loadKubeConfig({ kubeconfig: undefined, kubernetesServiceHost: "10.96.0.1" }, logger, {
      serviceAccountPrefix: join(dir, "pod"),
    });
    expect(kubeConfig?.getCurrentContext()).toBe("inClusterContext");
    expect(lines.filter((line) => line.level >= 40)).toEqual([]);
  });

  it.each([
    [
      "neither is configured",
      { kubeconfig: undefined, kubernetesServiceHost: undefined },
      /KUBECONFIG is unset and this is not a pod/,
    ],
    [
      "the file is missing",
      { kubeconfig: "/nonexistent/config", kubernetesServiceHost: undefined },
      /KUBECONFIG file \/nonexistent\/config is not usable/,
    ],
    [
      "the file is not YAML",
      { kubeconfig: "GARBAGE", kubernetesServiceHost: undefined },
      /KUBECONFIG file .*garbage is not usable/,
    ],
    [
      "no current context",
      { kubeconfig: "NO_CONTEXT", kubernetesServiceHost: undefined },
      /has no current context with a cluster/,
    ],
    [
      "the token is missing",
      { kubeconfig: undefined, kubernetesServiceHost: "10.96.0.1" },
      /service account token .* is missing/,
    ],
  ])("returns undefined with exactly one warning when %s", (_name, source, reason) => {
    const { lines, logger } = capture();
    const kubeconfig =
      source.kubeconfig === "GARBAGE"
        ? join(dir, "garbage")
        : source.kubeconfig === "NO_CONTEXT"
          ? join(dir, "no-context")
          : source.kubeconfig;
    const result = loadKubeConfig({ ...source, kubeconfig }, logger, {
      serviceAccountPrefix: join(dir, "absent"),
    });
    expect(result).toBeUndefined();
    expect(lines).toHaveLength(1);
    expect(lines[0]?.level).toBe(40);
    expect(lines[0]?.msg).toMatch(reason);
  });
});
