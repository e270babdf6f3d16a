// The chart's RBAC objects (and its ValidatingAdmissionPolicy) for a fresh release in a fresh
// namespace, and clients holding nothing but a TokenRequest token of the chart's ServiceAccount.
import { randomBytes } from "node:crypto";
import {
  AdmissionregistrationV1Api,
  AppsV1Api,
  AuthenticationV1Api,
  AuthorizationV1Api,
  BatchV1Api,
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  RbacAuthorizationV1Api,
} from "@kubernetes/client-node";
import { expect } from "vitest";
import { isApiStatus } from "../../../scripts/cluster/kube-client.ts";
import { type Manifest, renderChart } from "../../support/helm.ts";
import { adminClients } from "./cluster.ts";
import { createNamespace, deleteNamespace } from "./namespace.ts";

const RBAC_KINDS = ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"];
/** The policy under which the apiserver lets prepull's ServiceAccount change only its annotation. */
const POLICY_KINDS = ["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"];

export interface Installed {
  namespace: string;
  serviceAccount: string;
  release: string;
  /** The rendered RBAC and policy objects, as created. */
  manifests: Manifest[];
  /** A kubeconfig holding only the ServiceAccount's token. */
  kubeConfig: KubeConfig;
  token: string;
  clients: {
    core: CoreV1Api;
    apps: AppsV1Api;
    batch: BatchV1Api;
    coordination: CoordinationV1Api;
    authentication: AuthenticationV1Api;
    authorization: AuthorizationV1Api;
  };
  remove(): Promise<void>;
}

/** Creates the chart's RBAC objects for a fresh release and returns clients acting as its ServiceAccount. */
export async function installRbac(values: Record<string, unknown>): Promise<Installed> {
  const admin = adminClients();
  const namespace = await createNamespace("prepull-rbac");
  // A unique release name: ClusterRoles and ClusterRoleBindings are cluster-wide.
  const release = `rbac-${randomBytes(3).toString("hex")}`;
  // Not the uninstall hook's: a principal of its own that exists only while `helm uninstall`
  // runs (its grants are proven by the chart's uninstall on the real node, chart-real-node.test.ts).
  const manifests = renderChart({ release, namespace, values }).filter(
    (m) =>
      (RBAC_KINDS.includes(m.kind) || POLICY_KINDS.includes(m.kind)) &&
      m.metadata.annotations?.["helm.sh/hook"] !== "post-delete",
  );
  // Its own roles, and the role for whoever scrapes /metrics (bound to nobody by the chart).
  expect(manifests.map((m) => `${m.kind}/${m.metadata.name}`).sort()).toEqual(
    [
      `ServiceAccount/${release}-prepull`,
      `ClusterRole/${release}-prepull`,
      `ClusterRole/${release}-prepull-metrics-reader`,
      `ClusterRoleBinding/${release}-prepull`,
      `Role/${release}-prepull`,
      `RoleBinding/${release}-prepull`,
      `ValidatingAdmissionPolicy/${release}-prepull-status-only`,
      `ValidatingAdmissionPolicyBinding/${release}-prepull-status-only`,
    ].sort(),
  );
  for (const manifest of manifests) await admin.objects.create(manifest);

  const rbac = admin.kubeConfig.makeApiClient(RbacAuthorizationV1Api);
  const policies = admin.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  const named = (kind: string) => manifests.filter((m) => m.kind === kind).map((m) => m.metadata.name);
  const remove = async () => {
    for (const name of named("ClusterRoleBinding"))
      await rbac.deleteClusterRoleBinding({ name }).catch((e: unknown) => ignoreNotFound(e));
    for (const name of named("ClusterRole"))
      await rbac.deleteClusterRole({ name }).catch((e: unknown) => ignoreNotFound(e));
    for (const name of named("ValidatingAdmissionPolicyBinding"))
      await policies
        .deleteValidatingAdmissionPolicyBinding({ name })
        .catch((e: unknown) => ignoreNotFound(e));
    for (const name of named("ValidatingAdmissionPolicy"))
      await policies.deleteValidatingAdmissionPolicy({ name }).catch((e: unknown) => ignoreNotFound(e));
    await deleteNamespace(namespace);
  };

  const serviceAccount = manifests.find((m) => m.kind === "ServiceAccount")?.metadata.name ?? "";
  const token = await admin.core.createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const kubeConfig = asToken(admin.kubeConfig, token.status?.token ?? "");
  return {
    namespace,
    serviceAccount,
    release,
    manifests,
    kubeConfig,
    token: token.status?.token ?? "",
    clients: {
      core: kubeConfig.makeApiClient(CoreV1Api),
      apps: kubeConfig.makeApiClient(AppsV1Api),
      batch: kubeConfig.makeApiClient(BatchV1Api),
      coordination: kubeConfig.makeApiClient(CoordinationV1Api),
      authentication: kubeConfig.makeApiClient(AuthenticationV1Api),
      authorization: kubeConfig.makeApiClient(AuthorizationV1Api),
    },
    remove,
  };
}

function ignoreNotFound(error: unknown): void {
  if (!isApiStatus(error, 404)) throw error;
}

/** The admin kubeconfig's cluster, with a user that has nothing but the bearer token. */
function asToken(admin: KubeConfig, token: string): KubeConfig {
  const cluster = admin.getCurrentCluster();
  if (cluster === null) throw new Error("the admin kubeconfig has no current cluster");
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [cluster],
    users: [{ name: "prepull", token }],
    contexts: [{ name: "prepull", cluster: cluster.name, user: "prepull" }],
    currentContext: "prepull",
  });
  return kubeConfig;
}
