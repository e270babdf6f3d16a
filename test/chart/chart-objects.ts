// Typed views of rendered chart objects and checks shared by the chart tests.
import type {
  V1ClusterRole,
  V1Container,
  V1Deployment,
  V1MutatingWebhookConfiguration,
  V1PodSpec,
  V1PolicyRule,
  V1Role,
} from "@kubernetes/client-node";
import { findManifest, type Manifest } from "../support/helm.ts";

/** A cert-manager Certificate, as far as the chart sets it. */
export interface Certificate extends Manifest {
  spec: {
    secretName: string;
    isCA?: boolean;
    commonName?: string;
    dnsNames?: string[];
    duration?: string;
    renewBefore?: string;
    usages?: string[];
    privateKey?: { algorithm?: string; size?: number; rotationPolicy?: string };
    issuerRef: { group?: string; kind?: string; name: string };
  };
}

/** A cert-manager Issuer, as far as the chart sets it. */
export interface Issuer extends Manifest {
  spec: { selfSigned?: Record<string, never>; ca?: { secretName: string } };
}

/** The uninstall hook's objects (post-delete): their own principal, checked on their own. */
export function isUninstallHook(manifest: Manifest): boolean {
  return manifest.metadata.annotations?.["helm.sh/hook"] === "post-delete";
}

/** What runs while the chart is installed: everything but the uninstall hook. */
export function installed(manifests: readonly Manifest[]): Manifest[] {
  return manifests.filter((m) => !isUninstallHook(m));
}

/** Rendered objects are plain YAML; these views give them the API types for reading. */
export function view<T>(manifest: Manifest): T {
  return manifest as unknown as T;
}

export function deployment(manifests: readonly Manifest[]): V1Deployment {
  return view<V1Deployment>(findManifest(manifests, "Deployment"));
}

export function podSpec(manifests: readonly Manifest[]): V1PodSpec {
  const spec = deployment(manifests).spec?.template.spec;
  if (spec === undefined) throw new Error("the Deployment has no pod spec");
  return spec;
}

export function container(manifests: readonly Manifest[]): V1Container {
  const [first, ...rest] = podSpec(manifests).containers;
  if (first === undefined || rest.length > 0) throw new Error("expected exactly one container");
  return first;
}

export function env(manifests: readonly Manifest[]): Map<string, string | undefined> {
  return new Map((container(manifests).env ?? []).map((e) => [e.name, e.value]));
}

export function webhookConfiguration(manifests: readonly Manifest[]): V1MutatingWebhookConfiguration {
  return view<V1MutatingWebhookConfiguration>(findManifest(manifests, "MutatingWebhookConfiguration"));
}

/** Every RBAC rule the chart grants, tagged with where: "cluster" or "namespace". */
export function rbacRules(
  manifests: readonly Manifest[],
): { scope: "cluster" | "namespace"; rule: V1PolicyRule }[] {
  const rules: { scope: "cluster" | "namespace"; rule: V1PolicyRule }[] = [];
  for (const m of manifests) {
    if (m.kind === "ClusterRole") {
      for (const rule of view<V1ClusterRole>(m).rules ?? []) rules.push({ scope: "cluster", rule });
    }
    if (m.kind === "Role")
      for (const rule of view<V1Role>(m).rules ?? []) rules.push({ scope: "namespace", rule });
  }
  return rules;
}

/** The verbs granted on a resource at a scope, over all rules. */
export function verbsOn(
  manifests: readonly Manifest[],
  scope: "cluster" | "namespace",
  apiGroup: string,
  resource: string,
): string[] {
  const verbs = new Set<string>();
  for (const { scope: s, rule } of rbacRules(manifests)) {
    if (s === scope && rule.apiGroups?.includes(apiGroup) && rule.resources?.includes(resource)) {
      for (const verb of rule.verbs) verbs.add(verb);
    }
  }
  return [...verbs].sort();
}

/**
 * The container and pod settings Pod Security "restricted" requires (v1.30+ policy), checked on a
 * pod spec. The e2e chart test also has the real apiserver's PodSecurity admission judge it.
 */
export function restrictedViolations(spec: V1PodSpec): string[] {
  const problems: string[] = [];
  const pod = spec.securityContext ?? {};
  if (spec.hostNetwork || spec.hostPID || spec.hostIPC) problems.push("host namespaces");
  for (const volume of spec.volumes ?? []) {
    const allowed = [
      "configMap",
      "csi",
      "downwardAPI",
      "emptyDir",
      "ephemeral",
      "persistentVolumeClaim",
      "projected",
      "secret",
    ];
    const kinds = Object.keys(volume).filter((k) => k !== "name");
    if (!kinds.every((k) => allowed.includes(k))) problems.push(`volume ${volume.name}: ${kinds.join(",")}`);
  }
  for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
    const sc = c.securityContext ?? {};
    const where = `container ${c.name}`;
    if (sc.privileged) problems.push(`${where}: privileged`);
    if (sc.allowPrivilegeEscalation !== false)
      problems.push(`${where}: allowPrivilegeEscalation must be false`);
    if (!(sc.capabilities?.drop ?? []).includes("ALL")) problems.push(`${where}: capabilities must drop ALL`);
    const added = (sc.capabilities?.add ?? []).filter((cap) => cap !== "NET_BIND_SERVICE");
    if (added.length > 0) problems.push(`${where}: adds ${added.join(",")}`);
    if ((sc.runAsNonRoot ?? pod.runAsNonRoot) !== true) problems.push(`${where}: runAsNonRoot must be true`);
    if ((sc.runAsUser ?? pod.runAsUser) === 0) problems.push(`${where}: runAsUser 0`);
    const seccomp = sc.seccompProfile?.type ?? pod.seccompProfile?.type;
    if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost") problems.push(`${where}: seccompProfile`);
    for (const port of c.ports ?? []) if (port.hostPort) problems.push(`${where}: hostPort`);
  }
  return problems;
}
