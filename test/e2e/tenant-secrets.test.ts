// Credentials stay with their namespace, on the real control plane: with mirrorPullSecrets, two
// namespaces' pull secrets never share a DaemonSet (nor therefore a pod), a wrong or missing
// Secret is reported on its own workload while everyone else's is mirrored, a ServiceAccount's
// pull secrets count like the template's, and turning mirroring off deletes the mirrors.
import type { V1DaemonSet } from "@kubernetes/client-node";
import { Registry } from "prom-client";
import { afterAll, beforeAll, expect, test } from "vitest";
import {
  MANAGED_SELECTOR,
  ownedDaemonSets,
  podsOf,
  replicaSettings,
  waitFor,
} from "../../bench/reconcile-harness.ts";
import { createLogger } from "../../src/log.ts";
import { type RunningReconciler, startReconciler } from "../../src/reconcile/start.ts";
import { adminClients } from "./support/cluster.ts";
import { createNamespace, deleteNamespace, withNamespace } from "./support/namespace.ts";
import { deployment } from "./support/workloads.ts";

let releaseNamespace: string;
let reconciler: RunningReconciler | undefined;

function start(mirrorPullSecrets: boolean): Promise<RunningReconciler> {
  return startReconciler({
    kubeConfig: adminClients().kubeConfig,
    settings: replicaSettings(releaseNamespace, `e2e-tenant-secrets-${process.pid}-${mirrorPullSecrets}`, {
      prepull: { mirrorPullSecrets },
    }),
    registry: new Registry(),
    logger: createLogger("warn"),
  });
}

beforeAll(async () => {
  releaseNamespace = await createNamespace("prepull-tsec");
  reconciler = await start(true);
});

afterAll(async () => {
  await reconciler?.stop();
  if (releaseNamespace) await deleteNamespace(releaseNamespace);
});

const dockerConfig = (token: string) =>
  Buffer.from(JSON.stringify({ auths: { "registry.example.com": { auth: token } } })).toString("base64");

async function createPullSecret(namespace: string, name: string, type = "kubernetes.io/dockerconfigjson") {
  await adminClients().core.createNamespacedSecret({
    namespace,
    body: {
      metadata: { name },
      type,
      data:
        type === "kubernetes.io/dockerconfigjson"
          ? { ".dockerconfigjson": dockerConfig(namespace) }
          : { token: dockerConfig(namespace) },
    },
  });
}

async function createWorkload(namespace: string, name: string, image: string, pullSecrets: string[]) {
  const body = deployment({ name, optedIn: true, image, replicas: 0 });
  const podSpec = body.spec?.template.spec;
  if (podSpec && pullSecrets.length > 0) podSpec.imagePullSecrets = pullSecrets.map((s) => ({ name: s }));
  await adminClients().apps.createNamespacedDeployment({ namespace, body });
}

async function mirrors(): Promise<Map<string, string | undefined>> {
  const list = await adminClients().core.listNamespacedSecret({
    namespace: releaseNamespace,
    labelSelector: MANAGED_SELECTOR,
  });
  return new Map(list.items.map((s) => [s.metadata?.name ?? "", s.data?.[".dockerconfigjson"]]));
}

function secretsOf(ds: V1DaemonSet): string[] {
  return (ds.spec?.template.spec?.imagePullSecrets ?? []).map((s) => s.name ?? "").sort();
}

test("two namespaces' secrets never share a pod; one tenant's wrong Secret is reported on its workload only", async () => {
  const { apps, core } = adminClients();
  const [a, b, c] = await Promise.all([
    withNamespace("tenant-a"),
    withNamespace("tenant-b"),
    withNamespace("tenant-c"),
  ]);
  // One image shared by all three: without the namespace in the grouping they would share a DaemonSet.
  const image = `registry.example.com/e2e/${releaseNamespace}/shared:1`;
  await createPullSecret(a, "regcred");
  await createPullSecret(b, "regcred");
  await createPullSecret(c, "opaque", "Opaque");
  await createWorkload(a, "app", image, ["regcred"]);
  await createWorkload(b, "app", image, ["regcred"]);
  await createWorkload(c, "app", image, ["opaque", "missing"]);

  const carrying = await waitFor("a DaemonSet per tenant with a mirrored secret", async () => {
    const found = (await ownedDaemonSets(apps, releaseNamespace)).filter(
      (ds) =>
        (ds.spec?.template.spec?.containers ?? []).some((x) => x.image === image) && secretsOf(ds).length > 0,
    );
    return found.length === 2 ? found : undefined;
  });
  const mirrored = await mirrors();
  for (const ds of carrying) {
    // Each DaemonSet carries exactly one mirror, copied from one namespace.
    const names = secretsOf(ds);
    expect(names).toHaveLength(1);
    const tenant = [a, b].find((ns) => names[0]?.startsWith(`prepull-pull-${ns}-regcred-`));
    expect(tenant, names[0]).toBeDefined();
    expect(mirrored.get(names[0] ?? "")).toBe(dockerConfig(tenant ?? ""));
  }
  // ...and so does every pod of it.
  for (const ds of carrying) {
    const name = ds.metadata?.name ?? "";
    const pods = await waitFor(`pods of ${name}`, async () => {
      const found = await podsOf(core, releaseNamespace, name);
      return found.length > 0 ? found : undefined;
    });
    for (const pod of pods)
      expect((pod.spec?.imagePullSecrets ?? []).map((s) => s.name)).toEqual(secretsOf(ds));
  }
  // Tenant c's Opaque and missing Secrets are not mirrored; its workload says so.
  expect([...mirrored.keys()].filter((name) => name.startsWith(`prepull-pull-${c}-`))).toEqual([]);
  const status = await waitFor("tenant c's status", async () => {
    const live = await apps.readNamespacedDeployment({ namespace: c, name: "app" });
    const text = live.metadata?.annotations?.["prepull.dev/status"];
    return text?.includes("not mirrored") ? text : undefined;
  });
  expect(status).toContain("pull secret opaque not mirrored: its type Opaque is not a registry credential");
  expect(status).toContain("pull secret missing not mirrored: it does not exist");
  for (const tenant of [a, b]) {
    const live = await apps.readNamespacedDeployment({ namespace: tenant, name: "app" });
    expect(live.metadata?.annotations?.["prepull.dev/status"] ?? "").not.toContain("not mirrored");
  }
});

test("a ServiceAccount's pull secrets are mirrored like the template's", async () => {
  const { core, apps } = adminClients();
  const namespace = await withNamespace("tenant-sa");
  await createPullSecret(namespace, "sa-cred");
  await core.createNamespacedServiceAccount({
    namespace,
    body: { metadata: { name: "builder" }, imagePullSecrets: [{ name: "sa-cred" }] },
  });
  const image = `registry.example.com/e2e/${namespace}/built:1`;
  const body = deployment({ name: "built", optedIn: true, image, replicas: 0 });
  if (body.spec?.template.spec) body.spec.template.spec.serviceAccountName = "builder";
  await apps.createNamespacedDeployment({ namespace, body });
  const ds = await waitFor("the DaemonSet carrying the ServiceAccount's secret", async () => {
    const found = (await ownedDaemonSets(apps, releaseNamespace)).find((x) =>
      (x.spec?.template.spec?.containers ?? []).some((c) => c.image === image),
    );
    return found !== undefined && secretsOf(found).length > 0 ? found : undefined;
  });
  const [mirror] = secretsOf(ds);
  expect(mirror?.startsWith(`prepull-pull-${namespace}-sa-cred-`)).toBe(true);
  expect((await mirrors()).get(mirror ?? "")).toBe(dockerConfig(namespace));
});

test("turning mirroring off deletes the mirrors", async () => {
  const namespace = await withNamespace("tenant-off");
  await createPullSecret(namespace, "regcred");
  await createWorkload(namespace, "app", `registry.example.com/e2e/${namespace}/off:1`, ["regcred"]);
  await waitFor("a mirror", async () => ((await mirrors()).size > 0 ? true : undefined));

  await reconciler?.stop();
  reconciler = await start(false);
  await waitFor("every mirror to be deleted", async () => ((await mirrors()).size === 0 ? true : undefined));
});
