import { describe, expect, it } from "vitest";
import { NAMESPACE_OPT_IN_LABEL, type OptInInput, optInReason, reasonSuffix } from "../../src/core/opt-in.ts";
import { webhookSettings } from "../support/webhook-configuration.ts";

const excluded = new Set(["kube-system", "prepull-system", "legacy"]);
const base: OptInInput = {
  annotations: {},
  namespace: "ml",
  namespaceLabels: {},
  excluded,
  clusterDefault: false,
};
const labelled = { "prepull.dev/enabled": "true" };

describe("optInReason", () => {
  it.each([
    ["nothing set", {}, undefined],
    ["own annotation", { annotations: { prepull: "true" } }, "annotation"],
    ["own annotation, any other value", { annotations: { prepull: "yes" } }, undefined],
    ["labelled namespace", { namespaceLabels: labelled }, "namespace"],
    [
      "labelled namespace, label not exactly true",
      { namespaceLabels: { "prepull.dev/enabled": "True" } },
      undefined,
    ],
    [
      "labelled namespace, workload opts out",
      { namespaceLabels: labelled, annotations: { prepull: "false" } },
      undefined,
    ],
    [
      "labelled namespace, own annotation wins",
      { namespaceLabels: labelled, annotations: { prepull: "true" } },
      "annotation",
    ],
    ["cluster default", { clusterDefault: true }, "cluster default"],
    [
      "cluster default, workload opts out",
      { clusterDefault: true, annotations: { prepull: "false" } },
      undefined,
    ],
    [
      "cluster default and labelled: namespace is more specific",
      { clusterDefault: true, namespaceLabels: labelled },
      "namespace",
    ],
    [
      "cluster default, namespace not seen yet",
      { clusterDefault: true, namespaceLabels: undefined },
      "cluster default",
    ],
    ["unknown namespace, no default", { namespaceLabels: undefined }, undefined],
    ["cluster default, excluded namespace", { clusterDefault: true, namespace: "legacy" }, undefined],
    ["labelled excluded namespace", { namespace: "kube-system", namespaceLabels: labelled }, undefined],
    [
      "own annotation in the release namespace",
      { namespace: "prepull-system", annotations: { prepull: "true" } },
      undefined,
    ],
  ] as const)("%s", (_name, overrides, expected) => {
    expect(optInReason({ ...base, ...overrides })).toBe(expected);
  });

  it("says why in the status suffix, nothing for the workload's own annotation", () => {
    expect(reasonSuffix("annotation")).toBe("");
    expect(reasonSuffix("namespace")).toBe(" (via namespace)");
    expect(reasonSuffix("cluster default")).toBe(" (via cluster default)");
  });
});

describe("the namespace label", () => {
  it("is the one the chart's namespace webhook entry selects on (files/webhook.json)", () => {
    expect(NAMESPACE_OPT_IN_LABEL).toBe("prepull.dev/enabled");
    expect(webhookSettings.namespaceOptInLabel).toBe(NAMESPACE_OPT_IN_LABEL);
  });
});
