// The real apiserver and the real prepull server together: which requests reach prepull, that its
// patch lands on the stored object, that dry runs leave nothing behind, and that the cluster keeps
// working when prepull is down (failurePolicy Ignore).
import { afterAll, beforeAll, describe, expect, onTestFinished, test, vi } from "vitest";
import { isApiStatus } from "../../scripts/cluster/kube-client.ts";
import { webhookSettings } from "../support/webhook-configuration.ts";
import { adminClients } from "./support/cluster.ts";
import { createNamespace, deleteNamespace, withNamespace } from "./support/namespace.ts";
import { type RunningPrepull, startPrepull } from "./support/prepull.ts";
import { registerWebhook } from "./support/register-webhook.ts";
import { deployment, waitForRollout } from "./support/workloads.ts";

const TRACKED_IMAGES = "prepull.dev/images";

let prepull: RunningPrepull;
let releaseNamespace: string;

beforeAll(async () => {
  releaseNamespace = await createNamespace("prepull-system");
  prepull = await startPrepull({ namespace: releaseNamespace });
});

afterAll(async () => {
  await prepull?.stop();
  if (releaseNamespace) await deleteNamespace(releaseNamespace);
});

/** A namespace for this test with prepull registered for it (and only it). */
async function registeredNamespace(target: RunningPrepull = prepull): Promise<string> {
  const namespace = await withNamespace();
  const registration = await registerWebhook({
    target,
    probeNamespace: namespace,
    onlyNamespaces: [namespace],
  });
  onTestFinished(() => registration.remove());
  return namespace;
}

const deploymentCreates = () => prepull.admissionRequests({ kind: "Deployment", operation: "CREATE" });

describe("admission through the real apiserver", () => {
  test("the apiserver stores the chart's webhook settings unchanged", async () => {
    const namespace = await withNamespace();
    const registration = await registerWebhook({
      target: prepull,
      probeNamespace: namespace,
      onlyNamespaces: [namespace],
    });
    onTestFinished(() => registration.remove());

    const stored = await adminClients().admission.readMutatingWebhookConfiguration({
      name: registration.name,
    });
    const webhook = stored.webhooks?.[0];
    const shipped = webhookSettings.webhook;
    expect(webhook).toMatchObject({
      name: shipped.name,
      admissionReviewVersions: shipped.admissionReviewVersions,
      sideEffects: shipped.sideEffects,
      failurePolicy: shipped.failurePolicy,
      timeoutSeconds: shipped.timeoutSeconds,
      reinvocationPolicy: shipped.reinvocationPolicy,
      matchPolicy: shipped.matchPolicy,
      matchConditions: shipped.matchConditions,
      clientConfig: { url: `${prepull.baseUrl}${webhookSettings.path}` },
    });
    expect(webhook?.rules).toEqual(shipped.rules);
    expect(webhook?.namespaceSelector?.matchExpressions?.[0]).toEqual({
      key: webhookSettings.namespaceSelectorKey,
      operator: "NotIn",
      values: [...webhookSettings.alwaysExcludedNamespaces, releaseNamespace],
    });
    // The namespace entry: same settings, its own name, path and matchConditions, and a selector
    // on the opt-in label (the cluster default drops it: see namespace-opt-in.test.ts).
    const byNamespace = stored.webhooks?.[1];
    expect(byNamespace).toMatchObject({
      name: "namespaces.prepull.dev",
      failurePolicy: shipped.failurePolicy,
      timeoutSeconds: shipped.timeoutSeconds,
      matchConditions: webhookSettings.namespaceWebhook.matchConditions,
      clientConfig: { url: `${prepull.baseUrl}/mutate/namespace` },
    });
    expect(byNamespace?.rules).toEqual(shipped.rules);
    expect(byNamespace?.namespaceSelector?.matchExpressions?.slice(0, 2)).toEqual([
      {
        key: "kubernetes.io/metadata.name",
        operator: "NotIn",
        values: [...webhookSettings.alwaysExcludedNamespaces, releaseNamespace],
      },
      { key: "prepull.dev/enabled", operator: "In", values: ["true"] },
    ]);
  });

  test("prepull is called for an opted-in Deployment and never for one without the annotation", async () => {
    const namespace = await registeredNamespace();
    const { apps } = adminClients();

    const before = await deploymentCreates();
    await apps.createNamespacedDeployment({ namespace, body: deployment({ name: "plain", optedIn: false }) });
    // matchConditions keep it away: the apiserver never sent it.
    expect(await deploymentCreates()).toBe(before);

    await apps.createNamespacedDeployment({
      namespace,
      body: deployment({ name: "opted-in", optedIn: true }),
    });
    expect(await deploymentCreates()).toBe(before + 1);

    // Let the deployment controller finish its own writes first (its revision annotation is an
    // UPDATE prepull sees; a patch racing a status write is retried, calling the webhook again).
    await waitForRollout(namespace, "plain");
    await waitForRollout(namespace, "opted-in");
    const updatesBefore = await prepull.admissionRequests({ kind: "Deployment", operation: "UPDATE" });
    await apps.patchNamespacedDeployment({
      namespace,
      name: "plain",
      body: [{ op: "replace", path: "/spec/replicas", value: 2 }],
    });
    expect(await prepull.admissionRequests({ kind: "Deployment", operation: "UPDATE" })).toBe(updatesBefore);
    await apps.patchNamespacedDeployment({
      namespace,
      name: "opted-in",
      body: [{ op: "replace", path: "/spec/replicas", value: 2 }],
    });
    expect(await prepull.admissionRequests({ kind: "Deployment", operation: "UPDATE" })).toBe(
      updatesBefore + 1,
    );
  });

  test("prepull's patch is applied: the stored object carries its annotation", async () => {
    const namespace = await registeredNamespace();
    const { apps } = adminClients();
    const image = "registry.example.com/ml/trainer:2.4.1";
    await apps.createNamespacedDeployment({
      namespace,
      body: deployment({ name: "trainer", optedIn: true, image }),
    });

    const stored = await apps.readNamespacedDeployment({ namespace, name: "trainer" });
    const annotations = stored.metadata?.annotations ?? {};
    expect(annotations.prepull).toBe("true");
    // A literal (imageSetDigest of the one image): stored on workloads, it must never change
    // between releases.
    expect(annotations[TRACKED_IMAGES]).toBe("sha256:aea9f156e1ad05b2");
    // The workload itself is untouched: prepull only annotates.
    expect(stored.spec?.template.spec?.containers[0]?.image).toBe(image);
  });

  test("a server-side dry run is answered and leaves no trace", async () => {
    const namespace = await registeredNamespace();
    const { apps } = adminClients();
    const before = await deploymentCreates();

    const answer = await apps.createNamespacedDeployment({
      namespace,
      body: deployment({ name: "dry", optedIn: true }),
      dryRun: "All",
    });
    // Answered: prepull saw it and its patch is in the dry-run result...
    expect(await deploymentCreates()).toBe(before + 1);
    // A literal: imageSetDigest(["registry.k8s.io/pause:3.10"]), the default image of deployment().
    expect(answer.metadata?.annotations?.[TRACKED_IMAGES]).toBe("sha256:7d6980894932356f");
    // prepull writes its log lines in batches (src/log.ts): wait for the line rather than read at once.
    await vi.waitFor(
      () =>
        expect(prepull.output()).toMatch(/"name":"dry"[^\n]*"dryRun":true|"dryRun":true[^\n]*"name":"dry"/),
      { timeout: 10_000, interval: 100 },
    );

    // ...and nothing stayed: no object. (prepull skips the reconcile hand-off for dry runs; its
    // queue-depth gauge cannot show that here, since other runs sharing the plane write status
    // onto opted-in objects, which prepull sees as UPDATEs.)
    const read = apps.readNamespacedDeployment({ namespace, name: "dry" });
    await expect(read).rejects.toSatisfy((error: unknown) => isApiStatus(error, 404));
  });

  test("with prepull stopped, opted-in Deployments are still created (fail-open)", async () => {
    const doomedNamespace = await withNamespace("prepull-system");
    const doomed = await startPrepull({ namespace: doomedNamespace });
    onTestFinished(() => doomed.stop());
    const namespace = await registeredNamespace(doomed);
    await doomed.stop();

    const { apps } = adminClients();
    await apps.createNamespacedDeployment({
      namespace,
      body: deployment({ name: "survives", optedIn: true }),
    });
    const stored = await apps.readNamespacedDeployment({ namespace, name: "survives" });
    expect(stored.metadata?.annotations?.prepull).toBe("true");
    // Nobody answered, so nobody patched.
    expect(stored.metadata?.annotations?.[TRACKED_IMAGES]).toBeUndefined();
  });
});
