import { dirname } from "node:path";
import type {
  V1PodDisruptionBudget,
  V1PriorityClass,
  V1Service,
  V1ServiceAccount,
} from "@kubernetes/client-node";
import { beforeAll, describe, expect, it } from "vitest";
import { findManifest, type Manifest, renderChart } from "../support/helm.ts";
import { webhookConfigurationFor, webhookSettings } from "../support/webhook-configuration.ts";
import {
  type Certificate,
  container,
  deployment,
  env,
  type Issuer,
  installed,
  podSpec,
  rbacRules,
  restrictedViolations,
  verbsOn,
  view,
  webhookConfiguration,
} from "./chart-objects.ts";

// `helm template` with the default values, release "prepull" in namespace "prepull".
let manifests: Manifest[] = [];

beforeAll(() => {
  manifests = renderChart();
});

describe("default render", () => {
  it("renders exactly the expected objects", () => {
    const kinds = manifests.map((m) => `${m.kind}/${m.metadata.name}`).sort();
    expect(kinds).toEqual(
      [
        "Certificate/prepull-ca",
        "Certificate/prepull-serving",
        "ClusterRole/prepull",
        "ClusterRole/prepull-metrics-reader",
        "ClusterRoleBinding/prepull",
        "Deployment/prepull",
        "ClusterRole/prepull-uninstall",
        "ClusterRoleBinding/prepull-uninstall",
        "Job/prepull-uninstall",
        "Role/prepull-uninstall",
        "RoleBinding/prepull-uninstall",
        "ServiceAccount/prepull-uninstall",
        "Issuer/prepull-ca",
        "Issuer/prepull-selfsigned",
        "MutatingWebhookConfiguration/prepull",
        "Pod/prepull-test-webhook",
        "PodDisruptionBudget/prepull",
        "PriorityClass/prepull-daemonset",
        "Role/prepull",
        "RoleBinding/prepull",
        "Service/prepull",
        "ServiceAccount/prepull",
        "ValidatingAdmissionPolicy/prepull-status-only",
        "ValidatingAdmissionPolicyBinding/prepull-status-only",
      ].sort(),
    );
  });

  it("puts every namespaced object in the release namespace and labels everything", () => {
    const clusterScoped = [
      "ClusterRole",
      "ClusterRoleBinding",
      "MutatingWebhookConfiguration",
      "PriorityClass",
      "ValidatingAdmissionPolicy",
      "ValidatingAdmissionPolicyBinding",
    ];
    for (const m of manifests) {
      expect(m.metadata.namespace, `${m.kind}/${m.metadata.name}`).toBe(
        clusterScoped.includes(m.kind) ? undefined : "prepull",
      );
      expect(m.metadata.labels?.["app.kubernetes.io/name"], m.kind).toBe("prepull");
      expect(m.metadata.labels?.["app.kubernetes.io/instance"], m.kind).toBe("prepull");
      expect(m.metadata.labels?.["app.kubernetes.io/part-of"], m.kind).toBe("prepull");
    }
  });
});

describe("MutatingWebhookConfiguration", () => {
  it("is exactly what files/webhook.json describes, pointed at the Service", () => {
    const expected = webhookConfigurationFor({
      name: "prepull",
      endpoint: { service: { namespace: "prepull", name: "prepull", port: 443 } },
      releaseNamespace: "prepull",
    });
    expect(webhookConfiguration(manifests).webhooks).toEqual(expected.webhooks);
  });

  it("fails open, has no side effects on dry runs, and is filtered by the annotation in the apiserver", () => {
    const [webhook] = webhookConfiguration(manifests).webhooks ?? [];
    expect(webhook?.failurePolicy).toBe("Ignore");
    expect(webhook?.sideEffects).toBe("NoneOnDryRun");
    expect(webhook?.timeoutSeconds).toBeLessThanOrEqual(5);
    expect(webhook?.admissionReviewVersions).toEqual(["v1"]);
    expect(webhook?.reinvocationPolicy).toBe("Never");
    expect(webhook?.matchConditions?.map((c) => c.expression).join(" ")).toContain("'prepull'");
    const operations = new Set(webhook?.rules?.flatMap((r) => r.operations ?? []));
    expect([...operations].sort()).toEqual(["CREATE", "UPDATE"]);
    expect(webhook?.namespaceSelector?.matchExpressions?.[0]?.values).toEqual(
      expect.arrayContaining(["kube-system", "prepull"]),
    );
    expect(webhook?.clientConfig.service?.path).toBe(webhookSettings.path);
  });

  it("gets its caBundle from cert-manager's cainjector, from the serving Certificate", () => {
    const config = webhookConfiguration(manifests);
    expect(config.webhooks?.[0]?.clientConfig.caBundle).toBeUndefined();
    expect(config.metadata?.annotations?.["cert-manager.io/inject-ca-from"]).toBe("prepull/prepull-serving");
    findManifest(manifests, "Certificate", "prepull-serving");
  });
});

describe("cert-manager chain", () => {
  const certificate = (name: string): Certificate =>
    view<Certificate>(findManifest(manifests, "Certificate", name));
  const issuer = (name: string): Issuer => view<Issuer>(findManifest(manifests, "Issuer", name));

  it("self-signed Issuer → CA Certificate → CA Issuer → serving Certificate", () => {
    const serving = certificate("prepull-serving");
    expect(serving.spec.issuerRef).toEqual({ group: "cert-manager.io", kind: "Issuer", name: "prepull-ca" });
    const caIssuer = issuer("prepull-ca");
    const ca = certificate("prepull-ca");
    expect(caIssuer.spec.ca?.secretName).toBe(ca.spec.secretName);
    expect(ca.spec.isCA).toBe(true);
    expect(ca.spec.issuerRef).toEqual({
      group: "cert-manager.io",
      kind: "Issuer",
      name: "prepull-selfsigned",
    });
    expect(issuer("prepull-selfsigned").spec.selfSigned).toEqual({});
  });

  it("the serving certificate names the Service as the apiserver dials it, and rotates its key", () => {
    const serving = certificate("prepull-serving");
    expect(serving.spec.dnsNames).toEqual(
      expect.arrayContaining(["prepull.prepull.svc", "prepull.prepull.svc.cluster.local"]),
    );
    expect(serving.spec.usages).toContain("server auth");
    expect(serving.spec.privateKey?.rotationPolicy).toBe("Always");
  });

  it("the Deployment mounts the Secret the serving Certificate writes", () => {
    const secretVolume = podSpec(manifests).volumes?.find((v) => v.secret !== undefined);
    expect(secretVolume?.secret?.secretName).toBe(certificate("prepull-serving").spec.secretName);
  });
});

describe("Deployment", () => {
  it("runs two replicas spread across nodes", () => {
    expect(deployment(manifests).spec?.replicas).toBe(2);
    const spread = podSpec(manifests).topologySpreadConstraints ?? [];
    expect(spread.map((c) => c.topologyKey)).toContain("kubernetes.io/hostname");
    const anti =
      podSpec(manifests).affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution;
    expect(anti?.[0]?.podAffinityTerm.topologyKey).toBe("kubernetes.io/hostname");
  });

  it("passes Pod Security restricted, with a read-only root filesystem and an emptyDir at /tmp", () => {
    expect(restrictedViolations(podSpec(manifests))).toEqual([]);
    expect(container(manifests).securityContext?.readOnlyRootFilesystem).toBe(true);
    const tmp = container(manifests).volumeMounts?.find((m) => m.mountPath === "/tmp");
    const volume = podSpec(manifests).volumes?.find((v) => v.name === tmp?.name);
    expect(volume?.emptyDir).toBeDefined();
  });

  it("mounts the TLS Secret as a directory (not subPath), where TLS_CERT_FILE and TLS_KEY_FILE point", () => {
    const vars = env(manifests);
    const tlsMount = container(manifests).volumeMounts?.find((m) => m.name === "tls");
    expect(tlsMount?.subPath).toBeUndefined();
    expect(dirname(vars.get("TLS_CERT_FILE") ?? "")).toBe(tlsMount?.mountPath);
    expect(dirname(vars.get("TLS_KEY_FILE") ?? "")).toBe(tlsMount?.mountPath);
  });

  it("probes /readyz and /healthz over HTTPS on the serving port", () => {
    const c = container(manifests);
    expect(c.readinessProbe?.httpGet).toMatchObject({ path: "/readyz", scheme: "HTTPS", port: "https" });
    expect(c.livenessProbe?.httpGet).toMatchObject({ path: "/healthz", scheme: "HTTPS", port: "https" });
    // Liveness waits for the startup probe, which allows 2 minutes, so a slow start is not restarted.
    expect(c.startupProbe).toEqual({
      httpGet: { path: "/healthz", scheme: "HTTPS", port: "https" },
      periodSeconds: 2,
      failureThreshold: 60,
    });
    expect(c.ports).toEqual([
      { name: "https", containerPort: 8443, protocol: "TCP" },
      { name: "metrics", containerPort: 8444, protocol: "TCP" },
    ]);
  });

  it("requests resources and limits memory (no CPU limit)", () => {
    const resources = container(manifests).resources;
    expect(resources?.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(resources?.limits?.memory).toBeDefined();
    expect(resources?.limits?.cpu).toBeUndefined();
  });

  it("passes the server and reconciler settings as environment variables", () => {
    const vars = env(manifests);
    expect(Object.fromEntries(vars)).toEqual({
      PORT: "8443",
      METRICS_PORT: "8444",
      METRICS_AUTH: "on",
      PREPULL_METRICS_IMAGE_NAMES: "false",
      TLS_CERT_FILE: "/etc/prepull/tls/tls.crt",
      TLS_KEY_FILE: "/etc/prepull/tls/tls.key",
      LOG_LEVEL: "info",
      SHUTDOWN_TIMEOUT_SECONDS: "10",
      POD_NAMESPACE: undefined,
      POD_NAME: undefined,
      PREPULL_MAX_IMAGES_PER_DAEMONSET: "100",
      PREPULL_MAX_UNAVAILABLE: "100%",
      PREPULL_MIRROR_PULL_SECRETS: "false",
      PREPULL_EXCLUDED_NAMESPACES: "",
      PREPULL_CLUSTER_DEFAULT: "off",
      PREPULL_RESYNC_SECONDS: "300",
      PREPULL_TOLERATED_TAINTS: "*",
      PREPULL_NEVER_TOLERATED_TAINTS: "node-role.kubernetes.io/control-plane,node-role.kubernetes.io/master",
      PREPULL_PRIORITY_CLASS_NAME: "prepull-daemonset",
      PREPULL_SLEEPER_IMAGE: "ghcr.io/prepull/prepull:0.1.0",
      PREPULL_SLEEPER_PULL_SECRETS: "",
    });
    const podNamespace = container(manifests).env?.find((e) => e.name === "POD_NAMESPACE");
    expect(podNamespace?.valueFrom?.fieldRef?.fieldPath).toBe("metadata.namespace");
    const podName = container(manifests).env?.find((e) => e.name === "POD_NAME");
    expect(podName?.valueFrom?.fieldRef?.fieldPath).toBe("metadata.name");
    expect(container(manifests).image).toBe("ghcr.io/prepull/prepull:0.1.0");
  });

  it("gives the server time to drain after the preStop sleep", () => {
    const spec = podSpec(manifests);
    expect(container(manifests).lifecycle?.preStop?.sleep?.seconds).toBe(5);
    expect(spec.terminationGracePeriodSeconds).toBeGreaterThan(5 + 10);
  });
});

describe("Service and PodDisruptionBudget select the webhook pods", () => {
  const podLabels = (): Record<string, string> => deployment(manifests).spec?.template.metadata?.labels ?? {};

  it("the Service routes its HTTPS and metrics ports to the container's", () => {
    const service = view<V1Service>(findManifest(manifests, "Service"));
    expect(podLabels()).toMatchObject(service.spec?.selector ?? { missing: "selector" });
    expect(service.spec?.ports).toEqual([
      { name: "https", port: 443, targetPort: "https", protocol: "TCP" },
      { name: "metrics", port: 8444, targetPort: "metrics", protocol: "TCP" },
    ]);
  });

  it("the PDB keeps one pod available", () => {
    const pdb = view<V1PodDisruptionBudget>(findManifest(manifests, "PodDisruptionBudget"));
    expect(pdb.spec?.minAvailable).toBe(1);
    expect(podLabels()).toMatchObject(pdb.spec?.selector?.matchLabels ?? { missing: "selector" });
  });

  it("the helm test pod is not selected by them", () => {
    const service = view<V1Service>(findManifest(manifests, "Service"));
    const testPod = findManifest(manifests, "Pod");
    expect(testPod.metadata.annotations?.["helm.sh/hook"]).toBe("test");
    expect(testPod.metadata.labels).not.toMatchObject(service.spec?.selector ?? {});
  });
});

describe("RBAC", () => {
  it("uses no wildcards; the only non-resource URL is /metrics, in the role for scrapers", () => {
    for (const { rule } of rbacRules(manifests)) {
      for (const field of [rule.apiGroups, rule.resources, rule.verbs, rule.resourceNames]) {
        expect(field ?? []).not.toContain("*");
      }
    }
    const reader = findManifest(manifests, "ClusterRole", "prepull-metrics-reader");
    expect(reader.rules).toEqual([{ nonResourceURLs: ["/metrics"], verbs: ["get"] }]);
    const own = findManifest(manifests, "ClusterRole", "prepull");
    expect(
      (own.rules as { nonResourceURLs?: string[] }[]).every((r) => r.nonResourceURLs === undefined),
    ).toBe(true);
    // Nothing binds the scrapers' role to prepull itself.
    expect(findManifest(installed(manifests), "ClusterRoleBinding").roleRef).toMatchObject({
      name: "prepull",
    });
  });

  it("by default reads no Secret, and may only deletecollection its own (leftover mirrors)", () => {
    expect(verbsOn(installed(manifests), "cluster", "", "secrets")).toEqual([]);
    expect(verbsOn(installed(manifests), "namespace", "", "secrets")).toEqual(["deletecollection"]);
    expect(verbsOn(installed(manifests), "cluster", "", "serviceaccounts")).toEqual([]);
  });

  it("lists and watches Namespaces and RuntimeClasses (placement bounds), nothing more", () => {
    expect(verbsOn(installed(manifests), "cluster", "", "namespaces")).toEqual(["list", "watch"]);
    expect(verbsOn(installed(manifests), "cluster", "node.k8s.io", "runtimeclasses")).toEqual([
      "list",
      "watch",
    ]);
  });

  it("creates TokenReviews and SubjectAccessReviews (secure /metrics)", () => {
    expect(verbsOn(installed(manifests), "cluster", "authentication.k8s.io", "tokenreviews")).toEqual([
      "create",
    ]);
    expect(verbsOn(installed(manifests), "cluster", "authorization.k8s.io", "subjectaccessreviews")).toEqual([
      "create",
    ]);
  });

  it("reads the four workload kinds cluster-wide and patches them only (for the status annotation)", () => {
    for (const [group, resource] of [
      ["apps", "deployments"],
      ["apps", "statefulsets"],
      ["batch", "jobs"],
      ["batch", "cronjobs"],
    ] as const) {
      expect(verbsOn(installed(manifests), "cluster", group, resource)).toEqual(["list", "patch", "watch"]);
    }
  });

  it("writes DaemonSets and Leases, watches its Lease and reads pods only in its own namespace", () => {
    expect(verbsOn(installed(manifests), "namespace", "apps", "daemonsets")).toEqual(
      ["create", "delete", "list", "patch", "watch"].sort(),
    );
    expect(verbsOn(installed(manifests), "cluster", "apps", "daemonsets")).toEqual([]);
    // list and watch: followers watch the Lease to take over the moment it expires.
    expect(verbsOn(installed(manifests), "namespace", "coordination.k8s.io", "leases")).toEqual([
      "create",
      "get",
      "list",
      "update",
      "watch",
    ]);
    expect(verbsOn(installed(manifests), "cluster", "coordination.k8s.io", "leases")).toEqual([]);
    expect(verbsOn(installed(manifests), "namespace", "", "pods")).toEqual(["list", "watch"]);
    expect(verbsOn(installed(manifests), "cluster", "", "pods")).toEqual([]);
  });

  it("records core Events only", () => {
    expect(verbsOn(installed(manifests), "cluster", "", "events")).toEqual(["create"]);
    expect(verbsOn(installed(manifests), "cluster", "events.k8s.io", "events")).toEqual([]);
  });

  it("binds both roles to the chart's ServiceAccount", () => {
    const account = view<V1ServiceAccount>(findManifest(installed(manifests), "ServiceAccount"));
    expect(podSpec(manifests).serviceAccountName).toBe(account.metadata?.name);
    for (const kind of ["ClusterRoleBinding", "RoleBinding"] as const) {
      const binding = findManifest(installed(manifests), kind);
      expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name: "prepull", namespace: "prepull" }]);
    }
  });
});

describe("PriorityClass for the pre-pull DaemonSets", () => {
  it("is low, never preempts, and is the one the reconciler is told to use", () => {
    const priorityClass = view<V1PriorityClass>(findManifest(manifests, "PriorityClass"));
    expect(priorityClass.value).toBeLessThan(0);
    expect(priorityClass.preemptionPolicy).toBe("Never");
    expect(priorityClass.globalDefault).toBe(false);
    expect(env(manifests).get("PREPULL_PRIORITY_CLASS_NAME")).toBe(priorityClass.metadata?.name);
  });
});
