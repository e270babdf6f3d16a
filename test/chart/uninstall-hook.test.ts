// The uninstall hook (templates/uninstall-hook.yaml): a post-delete Job running prepull with
// PREPULL_UNINSTALL=on, with a ServiceAccount and grants of its own (the chart's are deleted
// before post-delete hooks run), created before the Job and deleted with it on success. The real
// uninstall is proven in test/e2e/uninstall.test.ts and on the real node in chart-real-node.
import type { V1Job } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { type Manifest, renderChart } from "../support/helm.ts";
import { deployment, isUninstallHook, restrictedViolations, view } from "./chart-objects.ts";

const hookObjects = (manifests: readonly Manifest[]) => manifests.filter(isUninstallHook);
const names = (manifests: readonly Manifest[]) =>
  hookObjects(manifests).map((m) => `${m.kind}/${m.metadata.name}`);

function job(manifests: readonly Manifest[]): V1Job {
  const found = hookObjects(manifests).filter((m) => m.kind === "Job");
  expect(found).toHaveLength(1);
  return view<V1Job>(found[0] as Manifest);
}

function rules(manifests: readonly Manifest[], kind: "ClusterRole" | "Role"): unknown {
  return hookObjects(manifests).find((m) => m.kind === kind)?.rules;
}

describe("the uninstall hook, default values", () => {
  const manifests = renderChart();

  it("is six post-delete hook objects: the grants first, then the Job, all removed once it succeeds", () => {
    expect(
      hookObjects(manifests).map((m) => [
        `${m.kind}/${m.metadata.name}`,
        m.metadata.annotations?.["helm.sh/hook-weight"],
        m.metadata.annotations?.["helm.sh/hook-delete-policy"],
      ]),
    ).toEqual([
      ["ServiceAccount/prepull-uninstall", "-10", "before-hook-creation,hook-succeeded"],
      ["ClusterRole/prepull-uninstall", "-10", "before-hook-creation,hook-succeeded"],
      ["ClusterRoleBinding/prepull-uninstall", "-10", "before-hook-creation,hook-succeeded"],
      ["Role/prepull-uninstall", "-10", "before-hook-creation,hook-succeeded"],
      ["RoleBinding/prepull-uninstall", "-10", "before-hook-creation,hook-succeeded"],
      ["Job/prepull-uninstall", "0", "before-hook-creation,hook-succeeded"],
    ]);
  });

  it("grants exactly what removing the leftovers needs", () => {
    expect(rules(manifests, "ClusterRole")).toEqual([
      { apiGroups: ["apps"], resources: ["deployments", "statefulsets"], verbs: ["list", "patch"] },
      { apiGroups: ["batch"], resources: ["jobs", "cronjobs"], verbs: ["list", "patch"] },
    ]);
    expect(rules(manifests, "Role")).toEqual([
      { apiGroups: ["apps"], resources: ["daemonsets"], verbs: ["deletecollection"] },
      { apiGroups: [""], resources: ["secrets"], verbs: ["deletecollection"] },
      {
        apiGroups: ["coordination.k8s.io"],
        resources: ["leases"],
        verbs: ["get", "create", "update", "delete"],
      },
    ]);
    for (const binding of hookObjects(manifests).filter((m) => m.kind.endsWith("Binding")))
      expect(binding.subjects).toEqual([
        { kind: "ServiceAccount", name: "prepull-uninstall", namespace: "prepull" },
      ]);
  });

  it("runs prepull's image in uninstall mode, as its own ServiceAccount, Pod Security restricted", () => {
    const hook = job(manifests);
    const pod = hook.spec?.template.spec;
    expect(hook.spec?.activeDeadlineSeconds).toBe(240);
    expect(pod?.restartPolicy).toBe("Never");
    expect(pod?.serviceAccountName).toBe("prepull-uninstall");
    expect(pod?.containers[0]?.image).toBe(deployment(manifests).spec?.template.spec?.containers[0]?.image);
    expect(pod?.containers[0]?.env).toEqual([
      { name: "PREPULL_UNINSTALL", value: "on" },
      { name: "LOG_LEVEL", value: "info" },
      { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
      { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
    ]);
    expect(restrictedViolations(pod ?? { containers: [] })).toEqual([]);
    // Not the webhook's selector labels: its Service and PodDisruptionBudget must not count it.
    expect(hook.spec?.template.metadata?.labels?.["app.kubernetes.io/component"]).toBe("uninstall");
  });
});

describe("the uninstall hook, other values", () => {
  it("with nodeGate it may remove the gating taint from nodes, and knows which", () => {
    const manifests = renderChart({
      values: { nodeGate: { enabled: true, taintKey: "example.com/warming" } },
    });
    expect(rules(manifests, "ClusterRole")).toContainEqual({
      apiGroups: [""],
      resources: ["nodes"],
      verbs: ["get", "list", "patch"],
    });
    expect(job(manifests).spec?.template.spec?.containers[0]?.env).toEqual(
      expect.arrayContaining([
        { name: "PREPULL_NODE_GATE", value: "on" },
        { name: "PREPULL_NODE_GATE_TAINT", value: "example.com/warming" },
        { name: "PREPULL_NODE_GATE_TAINT_EFFECT", value: "NoSchedule" },
      ]),
    );
  });

  it("is not rendered with uninstallCleanup.enabled=false", () => {
    expect(names(renderChart({ values: { uninstallCleanup: { enabled: false } } }))).toEqual([]);
  });

  it("runs as an existing ServiceAccount (which outlives the release) and grants to it", () => {
    const manifests = renderChart({ values: { serviceAccount: { create: false, name: "existing" } } });
    expect(names(manifests)).not.toContain("ServiceAccount/prepull-uninstall");
    expect(job(manifests).spec?.template.spec?.serviceAccountName).toBe("existing");
    for (const binding of hookObjects(manifests).filter((m) => m.kind.endsWith("Binding")))
      expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name: "existing", namespace: "prepull" }]);
  });

  it("creates no grants with rbac.create=false", () => {
    const manifests = renderChart({ values: { rbac: { create: false } } });
    expect(names(manifests)).toEqual(["ServiceAccount/prepull-uninstall", "Job/prepull-uninstall"]);
  });
});
