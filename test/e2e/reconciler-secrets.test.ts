// mirrorPullSecrets on the real control plane: a workload's imagePullSecret is copied into the
// release namespace (same type and data, prepull's labels), referenced by the DaemonSet holding the
// workload's image, kept in sync with its source, and deleted once no workload needs it.
import { Registry } from "prom-client";
import { afterAll, beforeAll, expect, test } from "vitest";
import { daemonSetWith, MANAGED_SELECTOR, replicaSettings, waitFor } from "../../bench/reconcile-harness.ts";
import { mirroredSecretName } from "../../src/core/desired-state.ts";
import { createLogger } from "../../src/log.ts";
import { type RunningReconciler, startReconciler } from "../../src/reconcile/start.ts";
import { adminClients } from "./support/cluster.ts";
import { createNamespace, deleteNamespace, withNamespace } from "./support/namespace.ts";
import { deployment, dockerConfigJson, pullSecret } from "./support/workloads.ts";

let releaseNamespace: string;
let reconciler: RunningReconciler | undefined;

beforeAll(async () => {
  releaseNamespace = await createNamespace("prepull-secrets");
  reconciler = await startReconciler({
    kubeConfig: adminClients().kubeConfig,
    settings: replicaSettings(releaseNamespace, `e2e-secrets-${process.pid}`, {
      prepull: { mirrorPullSecrets: true },
    }),
    registry: new Registry(),
    logger: createLogger("warn"),
  });
});

afterAll(async () => {
  await reconciler?.stop();
  if (releaseNamespace) await deleteNamespace(releaseNamespace);
});

test("a pull secret is mirrored, referenced, kept in sync and removed with its last user", async () => {
  const namespace = await withNamespace("secrets");
  const { core, apps } = adminClients();
  await core.createNamespacedSecret({ namespace, body: pullSecret("regcred", "first") });
  const image = `registry.example.com/e2e/${namespace}/private:1`;
  const body = deployment({ name: "private", optedIn: true, image });
  const podSpec = body.spec?.template.spec;
  if (podSpec) podSpec.imagePullSecrets = [{ name: "regcred" }];
  await apps.createNamespacedDeployment({ namespace, body });

  const mirror = mirroredSecretName({ namespace, name: "regcred" });
  const copied = await waitFor("the mirrored Secret", async () => {
    const list = await core.listNamespacedSecret({
      namespace: releaseNamespace,
      labelSelector: MANAGED_SELECTOR,
    });
    return list.items.find((s) => s.metadata?.name === mirror);
  });
  expect(copied.type).toBe("kubernetes.io/dockerconfigjson");
  expect(copied.data).toEqual({ ".dockerconfigjson": dockerConfigJson("first") });
  const ds = await waitFor("the DaemonSet", () => daemonSetWith(apps, releaseNamespace, image));
  expect(ds.spec?.template.spec?.imagePullSecrets).toEqual([{ name: mirror }]);

  // The source rotates: the mirror follows by the next resync at the latest (30 s here), which
  // reads every source afresh; runs in between reuse what they read (kube/secret-cache.ts).
  await core.replaceNamespacedSecret({ name: "regcred", namespace, body: pullSecret("regcred", "second") });
  await waitFor("the mirror to follow its source", async () => {
    const live = await core.readNamespacedSecret({ name: mirror, namespace: releaseNamespace });
    return live.data?.[".dockerconfigjson"] === dockerConfigJson("second") ? true : undefined;
  });

  await apps.deleteNamespacedDeployment({ name: "private", namespace });
  await waitFor("the mirror to be deleted", async () => {
    const list = await core.listNamespacedSecret({
      namespace: releaseNamespace,
      labelSelector: MANAGED_SELECTOR,
    });
    return list.items.some((s) => s.metadata?.name === mirror) ? undefined : true;
  });
});
