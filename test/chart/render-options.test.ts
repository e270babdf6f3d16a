import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { V1NetworkPolicy, V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { chartDir, findManifest, helmTemplateRaw, renderChart } from "../support/helm.ts";
import { webhookConfigurationFor } from "../support/webhook-configuration.ts";
import {
  type Certificate,
  container,
  deployment,
  env,
  installed,
  podSpec,
  restrictedViolations,
  verbsOn,
  view,
  webhookConfiguration,
} from "./chart-objects.ts";

function ciValues(file: string): Record<string, unknown> {
  return parse(readFileSync(join(chartDir, "ci", file), "utf8")) as Record<string, unknown>;
}

describe("ci/full-values.yaml: every option on, most values changed", () => {
  const manifests = renderChart({
    release: "platform",
    namespace: "infra",
    values: ciValues("full-values.yaml"),
  });

  it("renders the optional objects and names everything from fullnameOverride", () => {
    const names = manifests.map((m) => `${m.kind}/${m.metadata.name}`).sort();
    expect(names).toEqual(
      [
        "Certificate/pp-serving",
        "ClusterRole/pp",
        "ClusterRole/pp-metrics-reader",
        "ClusterRoleBinding/pp",
        "Deployment/pp",
        "MutatingWebhookConfiguration/pp",
        "ClusterRole/pp-uninstall",
        "ClusterRoleBinding/pp-uninstall",
        "Job/pp-uninstall",
        "Role/pp-uninstall",
        "RoleBinding/pp-uninstall",
        "ServiceAccount/pp-uninstall",
        "NetworkPolicy/pp",
        "Pod/pp-test-webhook",
        "PodDisruptionBudget/pp",
        "PriorityClass/prepull-warmup",
        "Role/pp",
        "RoleBinding/pp",
        "Service/pp",
        "ServiceAccount/prepull-webhook",
        "ServiceMonitor/pp",
        "ValidatingAdmissionPolicy/pp-status-only",
        "ValidatingAdmissionPolicyBinding/pp-status-only",
      ].sort(),
    );
  });

  it("excludes the user's namespaces from the webhook on top of kube-system and the release's", () => {
    const expected = webhookConfigurationFor({
      name: "pp",
      endpoint: { service: { namespace: "infra", name: "pp", port: 8443 } },
      releaseNamespace: "infra",
      extraExcludedNamespaces: ["monitoring", "batch-legacy", "sandbox"],
    });
    expect(webhookConfiguration(manifests).webhooks).toEqual(expected.webhooks);
    expect(webhookConfiguration(manifests).metadata?.annotations).toEqual({
      "cert-manager.io/inject-ca-from": "infra/pp-serving",
      "example.com/owner": "platform",
    });
  });

  it("issues the serving certificate from the existing ClusterIssuer, without a CA of its own", () => {
    expect(manifests.filter((m) => m.kind === "Issuer")).toEqual([]);
    const serving = view<Certificate>(findManifest(manifests, "Certificate"));
    expect(serving.spec.issuerRef).toEqual({
      group: "cert-manager.io",
      kind: "ClusterIssuer",
      name: "platform-ca",
    });
    expect(serving.spec.dnsNames).toContain("pp.infra.svc");
    expect(serving.spec.duration).toBe("720h");
  });

  it("mirrors pull secrets: Secret writes in its namespace, get (never list) of the named ones elsewhere", () => {
    expect(verbsOn(installed(manifests), "namespace", "", "secrets")).toEqual(
      ["create", "delete", "list", "patch", "watch"].sort(),
    );
    expect(verbsOn(installed(manifests), "cluster", "", "secrets")).toEqual(["get"]);
    // The kubelet uses a ServiceAccount's imagePullSecrets for pods without their own.
    expect(verbsOn(installed(manifests), "cluster", "", "serviceaccounts")).toEqual(["list", "watch"]);
    expect(env(manifests).get("PREPULL_MIRROR_PULL_SECRETS")).toBe("true");
  });

  it("hands the reconciler its settings", () => {
    const vars = env(manifests);
    expect(vars.get("PREPULL_MAX_IMAGES_PER_DAEMONSET")).toBe("5");
    expect(vars.get("PREPULL_MAX_UNAVAILABLE")).toBe("50%");
    expect(vars.get("PREPULL_EXCLUDED_NAMESPACES")).toBe("batch-legacy,sandbox");
    expect(vars.get("PREPULL_RESYNC_SECONDS")).toBe("120");
    expect(vars.get("PREPULL_PRIORITY_CLASS_NAME")).toBe("prepull-warmup");
    expect(vars.get("PORT")).toBe("9443");
    expect(vars.get("METRICS_PORT")).toBe("9444");
    expect(vars.get("METRICS_AUTH")).toBe("on");
    expect(vars.get("PREPULL_METRICS_IMAGE_NAMES")).toBe("true");
    expect(vars.get("PREPULL_TOLERATED_TAINTS")).toBe("nvidia.com/gpu,example.com/dedicated");
    expect(vars.get("PREPULL_NEVER_TOLERATED_TAINTS")).toBe(
      "node-role.kubernetes.io/control-plane,example.com/secure",
    );
    expect(vars.get("LOG_LEVEL")).toBe("debug");
  });

  it("gates nodes: get, list, watch and patch Nodes cluster-wide, and the gate's settings", () => {
    expect(verbsOn(installed(manifests), "cluster", "", "nodes")).toEqual(["get", "list", "patch", "watch"]);
    expect(verbsOn(installed(manifests), "namespace", "", "nodes")).toEqual([]);
    const vars = env(manifests);
    expect(vars.get("PREPULL_NODE_GATE")).toBe("on");
    expect(vars.get("PREPULL_NODE_GATE_TAINT")).toBe("ignore-taint.cluster-autoscaler.kubernetes.io/prepull");
    expect(vars.get("PREPULL_NODE_GATE_TAINT_EFFECT")).toBe("NoExecute");
    expect(vars.get("PREPULL_NODE_GATE_DEADLINE_SECONDS")).toBe("600");
  });

  it("uses the image by digest, for the server and for the DaemonSets' sleeper alike", () => {
    const image =
      "registry.example.com/platform/prepull@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    expect(container(manifests).image).toBe(image);
    expect(env(manifests).get("PREPULL_SLEEPER_IMAGE")).toBe(image);
    expect(podSpec(manifests).imagePullSecrets).toEqual([{ name: "registry-credentials" }]);
    expect(env(manifests).get("PREPULL_SLEEPER_PULL_SECRETS")).toBe("registry-credentials");
  });

  it("takes the user's scheduling settings instead of the defaults and drops the preStop sleep", () => {
    const spec = podSpec(manifests);
    expect(spec.topologySpreadConstraints?.map((c) => c.topologyKey)).toEqual([
      "topology.kubernetes.io/zone",
    ]);
    expect(spec.tolerations?.[0]?.key).toBe("node-role.example.com/infra");
    expect(spec.priorityClassName).toBe("system-cluster-critical");
    expect(container(manifests).lifecycle).toBeUndefined();
    expect(deployment(manifests).spec?.replicas).toBe(3);
    expect(restrictedViolations(spec)).toEqual([]);
  });

  it("scrapes /metrics on its own port over HTTPS with its ServiceAccount token, verified with the serving certificate's CA", () => {
    const monitor = findManifest(manifests, "ServiceMonitor");
    expect(monitor.metadata.labels?.release).toBe("prometheus");
    expect(monitor.spec).toMatchObject({
      endpoints: [
        {
          port: "metrics",
          scheme: "https",
          path: "/metrics",
          bearerTokenFile: "/var/run/secrets/kubernetes.io/serviceaccount/token",
          tlsConfig: { serverName: "pp.infra.svc", ca: { secret: { name: "pp-tls", key: "ca.crt" } } },
        },
      ],
    });
  });

  it("lets only the given sources reach the webhook port, and egress to DNS and the API only", () => {
    const policy = view<V1NetworkPolicy>(findManifest(manifests, "NetworkPolicy"));
    expect(policy.spec?.policyTypes).toEqual(["Ingress", "Egress"]);
    // Raw: the client library's type renames "from" (a keyword in its generator) to "_from".
    const ingressFrom = (policy.spec?.ingress?.[0] as { from?: unknown[] } | undefined)?.from;
    expect(ingressFrom).toHaveLength(2);
    expect(policy.spec?.ingress?.[0]?.ports).toEqual([{ port: "https", protocol: "TCP" }]);
    // The metrics port is open to its own sources.
    expect(policy.spec?.ingress?.[1]?.ports).toEqual([{ port: "metrics", protocol: "TCP" }]);
    expect((policy.spec?.ingress?.[1] as { from?: unknown[] } | undefined)?.from).toHaveLength(1);
    const egressPorts = policy.spec?.egress?.flatMap((e) => e.ports?.map((p) => p.port) ?? []);
    expect(egressPorts).toEqual([53, 53, 6443]);
  });
});

describe("ci/no-cert-manager-values.yaml: a user-supplied Secret and caBundle", () => {
  const values = ciValues("no-cert-manager-values.yaml");
  const manifests = renderChart({ values });

  it("renders no cert-manager objects and sets caBundle itself", () => {
    expect(manifests.filter((m) => m.apiVersion.startsWith("cert-manager.io/"))).toEqual([]);
    const config = webhookConfiguration(manifests);
    expect(config.metadata?.annotations).toBeUndefined();
    expect(config.webhooks?.[0]?.clientConfig.caBundle).toBe((values.tls as { caBundle: string }).caBundle);
  });

  it("mounts the given Secret, and with one replica makes no PDB that would block drains", () => {
    expect(podSpec(manifests).volumes?.find((v) => v.name === "tls")?.secret?.secretName).toBe("prepull-tls");
    expect(manifests.filter((m) => m.kind === "PodDisruptionBudget")).toEqual([]);
  });

  it("the helm test pod verifies the webhook with that caBundle", () => {
    const pod = view<V1Pod>(findManifest(manifests, "Pod"));
    const vars = new Map(pod.spec?.containers[0]?.env?.map((e) => [e.name, e.value]));
    expect(vars.get("WEBHOOK_CA_BUNDLE")).toBe((values.tls as { caBundle: string }).caBundle);
    expect(pod.spec?.volumes).toBeUndefined();
  });

  it("fails with a message naming what is missing when the caBundle or Secret is not given", () => {
    const noCa = helmTemplateRaw({ values: { tls: { certManager: { enabled: false }, secretName: "x" } } });
    expect(noCa.status).not.toBe(0);
    expect(noCa.stderr).toContain("tls.caBundle is required");
    const noSecret = helmTemplateRaw({
      values: { tls: { certManager: { enabled: false }, caBundle: "eA==" } },
    });
    expect(noSecret.status).not.toBe(0);
    expect(noSecret.stderr).toContain("tls.secretName is required");
  });
});

describe("smaller switches", () => {
  it("an existing ServiceAccount must be named, and none is created", () => {
    const unnamed = helmTemplateRaw({ values: { serviceAccount: { create: false } } });
    expect(unnamed.stderr).toContain("serviceAccount.name is required");
    const manifests = renderChart({ values: { serviceAccount: { create: false, name: "existing" } } });
    expect(manifests.filter((m) => m.kind === "ServiceAccount")).toEqual([]);
    expect(podSpec(manifests).serviceAccountName).toBe("existing");
    expect(findManifest(installed(manifests), "RoleBinding").subjects).toEqual([
      { kind: "ServiceAccount", name: "existing", namespace: "prepull" },
    ]);
  });

  it("the node gate is off by default: no access to Nodes and no gate settings", () => {
    const manifests = renderChart({});
    expect(verbsOn(installed(manifests), "cluster", "", "nodes")).toEqual([]);
    expect([...env(manifests).keys()].filter((name) => name.startsWith("PREPULL_NODE_GATE"))).toEqual([]);
  });

  it("metrics.secure=false: /metrics served plainly, no review rights, no scrapers' role, no token", () => {
    const manifests = renderChart({
      values: { metrics: { secure: false }, serviceMonitor: { enabled: true } },
    });
    expect(env(manifests).get("METRICS_AUTH")).toBe("off");
    expect(verbsOn(installed(manifests), "cluster", "authentication.k8s.io", "tokenreviews")).toEqual([]);
    expect(manifests.filter((m) => m.metadata.name === "prepull-metrics-reader")).toEqual([]);
    const endpoint = (findManifest(manifests, "ServiceMonitor").spec as { endpoints: object[] }).endpoints[0];
    expect(endpoint).not.toHaveProperty("bearerTokenFile");
  });

  it("statusOnlyPolicy.enabled=false renders no ValidatingAdmissionPolicy", () => {
    const manifests = renderChart({ values: { statusOnlyPolicy: { enabled: false } } });
    expect(manifests.filter((m) => m.kind.startsWith("ValidatingAdmissionPolicy"))).toEqual([]);
  });

  it("rbac.create=false renders no RBAC objects", () => {
    const manifests = renderChart({ values: { rbac: { create: false } } });
    const rbac = manifests.filter((m) => m.apiVersion.startsWith("rbac.authorization.k8s.io/"));
    expect(rbac).toEqual([]);
  });

  it("no PriorityClass when turned off, and the reconciler is told to use none", () => {
    const manifests = renderChart({ values: { reconciler: { priorityClass: { create: false } } } });
    expect(manifests.filter((m) => m.kind === "PriorityClass")).toEqual([]);
    expect(env(manifests).get("PREPULL_PRIORITY_CLASS_NAME")).toBe("");
  });

  it("a release name containing 'prepull' is used as is; others get the chart name appended", () => {
    expect(deployment(renderChart({ release: "prepull-prod" })).metadata?.name).toBe("prepull-prod");
    expect(deployment(renderChart({ release: "images" })).metadata?.name).toBe("images-prepull");
  });
});

describe("extraEnv", () => {
  it("adds the variables after the chart's own, so they override what the kubelet injects", () => {
    const manifests = renderChart({
      values: {
        extraEnv: [
          { name: "KUBERNETES_SERVICE_HOST", value: "10.0.0.1" },
          { name: "KUBERNETES_SERVICE_PORT", value: "6443" },
        ],
      },
    });
    const names = (container(manifests).env ?? []).map((e) => e.name);
    expect(names.slice(-2)).toEqual(["KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"]);
    expect(env(manifests).get("KUBERNETES_SERVICE_HOST")).toBe("10.0.0.1");
    expect(env(manifests).get("KUBERNETES_SERVICE_PORT")).toBe("6443");
  });

  it("is rejected by the schema without a name", () => {
    const result = helmTemplateRaw({ values: { extraEnv: [{ value: "x" }] } });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("extraEnv");
  });
});
