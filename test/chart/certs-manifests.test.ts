import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseManifests, renderChart } from "../support/helm.ts";
import { repoRoot } from "../support/kube-bin.ts";

// certs/cert-manager.yaml serves installs without Helm; it must not drift from the chart.
describe("certs/cert-manager.yaml", () => {
  it("is identical to the chart's cert-manager objects for release prepull in namespace prepull", () => {
    const plain = parseManifests(readFileSync(join(repoRoot, "certs/cert-manager.yaml"), "utf8"));
    const rendered = renderChart({ args: ["--show-only", "templates/certificates.yaml"] });
    expect(plain.map((m) => `${m.kind}/${m.metadata.name}`)).toEqual([
      "Certificate/prepull-ca",
      "Certificate/prepull-serving",
      "Issuer/prepull-selfsigned",
      "Issuer/prepull-ca",
    ]);
    expect(plain).toEqual(rendered);
  });

  it("carries no Helm-only labels, since nothing Helm manages it", () => {
    const plain = parseManifests(readFileSync(join(repoRoot, "certs/cert-manager.yaml"), "utf8"));
    for (const m of plain) {
      expect(Object.keys(m.metadata.labels ?? {})).not.toContain("app.kubernetes.io/managed-by");
      expect(Object.keys(m.metadata.labels ?? {})).not.toContain("helm.sh/chart");
    }
  });
});
