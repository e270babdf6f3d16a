import { describe, expect, it } from "vitest";
import { helmTemplateRaw } from "../support/helm.ts";

// values.schema.json: a wrong type or an unknown key makes `helm template` (and install/upgrade)
// fail before anything reaches the cluster, with a message that names the value.
describe("values.schema.json rejects wrong values", () => {
  it.each([
    ["replicaCount as a string", { replicaCount: "two" }, "/replicaCount"],
    ["a negative replicaCount", { replicaCount: 0 }, "/replicaCount"],
    ["an unknown top-level key (a typo)", { replicas: 2 }, "additional properties 'replicas' not allowed"],
    ["an unknown nested key", { reconciler: { mirrorSecrets: true } }, "'mirrorSecrets' not allowed"],
    [
      "mirrorPullSecrets as a string",
      { reconciler: { mirrorPullSecrets: "yes" } },
      "/reconciler/mirrorPullSecrets",
    ],
    ["maxUnavailable over 100%", { reconciler: { maxUnavailable: "150%" } }, "/reconciler/maxUnavailable"],
    [
      "maxImagesPerDaemonSet below 1 (0 no longer means unlimited: one DaemonSet must stay under 1.5 MiB)",
      { reconciler: { maxImagesPerDaemonSet: 0 } },
      "/reconciler/maxImagesPerDaemonSet",
    ],
    [
      "excludedNamespaces as a string",
      { reconciler: { excludedNamespaces: "sandbox" } },
      "/reconciler/excludedNamespaces",
    ],
    [
      "an invalid namespace name",
      { webhook: { excludedNamespaces: ["Not_A_Name"] } },
      "/webhook/excludedNamespaces/0",
    ],
    ["a port out of range", { service: { port: 70000 } }, "/service/port"],
    ["an unknown pull policy", { image: { pullPolicy: "Sometimes" } }, "/image/pullPolicy"],
    ["an unknown log level", { logLevel: "verbose" }, "/logLevel"],
    [
      "certManager.enabled as a string",
      { tls: { certManager: { enabled: "false" } } },
      "/tls/certManager/enabled",
    ],
    [
      "an issuerRef of an unknown kind",
      { tls: { certManager: { issuerRef: { name: "x", kind: "Vault" } } } },
      "/tls/certManager/issuerRef/kind",
    ],
    ["a caBundle that is not base64", { tls: { caBundle: "-----BEGIN CERTIFICATE-----" } }, "/tls/caBundle"],
    ["a duration without a unit", { tls: { certManager: { duration: "90" } } }, "/tls/certManager/duration"],
    [
      "a PriorityClass value as a string",
      { reconciler: { priorityClass: { value: "low" } } },
      "/reconciler/priorityClass/value",
    ],
    ["nodeSelector values that are not strings", { nodeSelector: { gpu: true } }, "/nodeSelector/gpu"],
  ])("%s", (_name, values, message) => {
    const result = helmTemplateRaw({ values });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("values don't meet the specifications of the schema");
    expect(result.stderr).toContain(message);
  });

  it("accepts the defaults and the documented value forms (so the rejections above are specific)", () => {
    for (const values of [
      {},
      { reconciler: { maxUnavailable: 3 } },
      { reconciler: { maxUnavailable: "25%" } },
      { podDisruptionBudget: { minAvailable: "50%" } },
      { tls: { certManager: { issuerRef: { name: "ca", kind: "ClusterIssuer" } } } },
    ]) {
      const result = helmTemplateRaw({ values });
      expect(result.stderr).toBe("");
      expect(result.status).toBe(0);
    }
  });
});
