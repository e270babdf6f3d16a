import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { chartDir, helm } from "../support/helm.ts";
import { kubeVersion } from "../support/kube-bin.ts";

// `helm lint --strict` turns every warning into a failure; it runs over the defaults and over the
// chart's ci/ values files (the non-default configurations chart-testing would also lint).
describe("helm lint --strict", () => {
  it.each([
    ["default values", []],
    ["ci/full-values.yaml", ["--values", join(chartDir, "ci/full-values.yaml")]],
    ["ci/no-cert-manager-values.yaml", ["--values", join(chartDir, "ci/no-cert-manager-values.yaml")]],
  ])("passes with %s", (_name, args) => {
    const result = helm(["lint", "--strict", chartDir, "--kube-version", kubeVersion(), ...args]);
    expect(result.stdout + result.stderr).toContain("1 chart(s) linted, 0 chart(s) failed");
    expect(result.status, result.stdout + result.stderr).toBe(0);
  });

  it("fails on a value the schema rejects (so the passes above mean something)", () => {
    const result = helm([
      "lint",
      "--strict",
      chartDir,
      "--kube-version",
      kubeVersion(),
      "--set",
      "replicaCount=two",
    ]);
    expect(result.status).not.toBe(0);
    expect(result.stdout + result.stderr).toContain("replicaCount");
  });
});
