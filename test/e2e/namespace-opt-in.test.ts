// Namespace and cluster-wide opt-in against the real control plane: prepull runs as a process
// (admission and reconciler), registered with the chart's two webhook entries (files/webhook.json),
// so the apiserver's namespaceSelector and matchConditions decide which workloads reach it. The
// admission counter on prepull's side shows that workloads that are out are never sent.
//
// Images are named after the test's namespace, so workloads of other test files (the reconciler
// watches every namespace) never disturb what a test asserts.
import type { V1Deployment } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from "vitest";
import { allImages, waitFor } from "../../bench/reconcile-harness.ts";
import { adminClients } from "./support/cluster.ts";
import { createNamespace, deleteNamespace, withNamespace } from "./support/namespace.ts";
import { type RunningPrepull, startPrepull } from "./support/prepull.ts";
import { registerWebhook } from "./support/register-webhook.ts";
import { deployment } from "./support/workloads.ts";

const image = (namespace: string, name: string) => `registry.example.com/e2e/${namespace}/${name}:1`;

function plain(namespace: string, name: string, annotations?: Record<string, string>): V1Deployment {
  const body = deployment({ name, image: image(namespace, name), optedIn: false });
  if (annotations) body.metadata = { ...body.metadata, annotations };
  return body;
}

async function create(namespace: string, body: V1Deployment): Promise<void> {
  await adminClients().apps.createNamespacedDeployment({ namespace, body });
}

async function setLabel(namespace: string, value: string | undefined): Promise<void> {
  // JSON patch ("/" in the key escaped as "~1"): the client sends patches as JSON patches.
  const path = "/metadata/labels/prepull.dev~1enabled";
  await adminClients().core.patchNamespace({
    name: namespace,
    body: [value === undefined ? { op: "remove", path } : { op: "add", path, value }],
  });
}

/** Waits until the images of `namespaces` in the release's DaemonSets are exactly `expected`. */
async function expectImages(release: string, namespaces: string[], expected: string[]): Promise<void> {
  const prefixes = namespaces.map((n) => `registry.example.com/e2e/${n}/`);
  const want = JSON.stringify([...expected].sort());
  let last: string[] = [];
  try {
    await waitFor(`pre-pulled images ${want}`, async () => {
      last = (await allImages(adminClients().apps, release)).filter((i) =>
        prefixes.some((p) => i.startsWith(p)),
      );
      return JSON.stringify(last) === want ? true : undefined;
    });
  } catch (error) {
    throw new Error(`${(error as Error).message}; last seen ${JSON.stringify(last)}`);
  }
}

/**
 * CREATE calls for Deployments the apiserver made to prepull during `action`, a create (admission
 * is synchronous). UPDATEs are left out: the reconciler's status patches on Deployments already in
 * are UPDATEs the apiserver sends too, and one may land in any window.
 */
async function callsDuring(prepull: RunningPrepull, action: () => Promise<void>): Promise<number> {
  const creates = { kind: "Deployment", operation: "CREATE" };
  const before = await prepull.admissionRequests(creates);
  await action();
  return (await prepull.admissionRequests(creates)) - before;
}

async function annotations(namespace: string, name: string): Promise<Record<string, string>> {
  const live = await adminClients().apps.readNamespacedDeployment({ namespace, name });
  return live.metadata?.annotations ?? {};
}

describe("a namespace labelled prepull.dev/enabled=true", () => {
  let release: string;
  let prepull: RunningPrepull;

  beforeAll(async () => {
    release = await createNamespace("prepull-nsopt");
    prepull = await startPrepull({ namespace: release, reconciler: true });
  });

  afterAll(async () => {
    await prepull?.stop();
    if (release) await deleteNamespace(release);
  });

  test("pre-pulls its existing and new Deployments, not the one that opts out, and lets them go when unlabelled", async () => {
    const namespace = await withNamespace("nsopt");
    const registration = await registerWebhook({
      target: prepull,
      probeNamespace: namespace,
      onlyNamespaces: [namespace],
    });
    onTestFinished(() => registration.remove());
    const calls: Record<string, number> = {};

    // Before the label: an unannotated Deployment is out, and the apiserver does not call prepull.
    calls["unlabelled namespace, no annotation (out)"] = await callsDuring(prepull, () =>
      create(namespace, plain(namespace, "existing")),
    );
    const { apps } = adminClients();
    const template = (await apps.readNamespacedDeployment({ namespace, name: "existing" })).spec?.template;

    // Labelling the namespace brings the existing Deployment in, without touching its spec.
    await setLabel(namespace, "true");
    await expectImages(release, [namespace], [image(namespace, "existing")]);
    const existing = await apps.readNamespacedDeployment({ namespace, name: "existing" });
    // (Not metadata.generation: a Deployment's generation also counts annotation changes, and
    // prepull writes its status annotation.)
    expect(existing.spec?.template).toEqual(template);
    expect(existing.metadata?.annotations?.prepull).toBeUndefined();

    // The opt-out is not sent (matchConditions) and not pre-pulled; a new Deployment is both.
    calls['labelled namespace, prepull: "false" (out)'] = await callsDuring(prepull, () =>
      create(namespace, plain(namespace, "opted-out", { prepull: "false" })),
    );
    calls["labelled namespace, no annotation (in via namespace)"] = await callsDuring(prepull, () =>
      create(namespace, plain(namespace, "new")),
    );
    calls['labelled namespace, prepull: "true" (in via annotation, first entry only)'] = await callsDuring(
      prepull,
      () => create(namespace, plain(namespace, "annotated", { prepull: "true" })),
    );
    expect(calls).toEqual({
      "unlabelled namespace, no annotation (out)": 0,
      'labelled namespace, prepull: "false" (out)': 0,
      "labelled namespace, no annotation (in via namespace)": 1,
      'labelled namespace, prepull: "true" (in via annotation, first entry only)': 1,
    });
    // Admission recorded the new Deployment's image set (a short digest: its image is named after
    // the random namespace, so the value itself differs per run).
    expect((await annotations(namespace, "new"))["prepull.dev/images"]).toMatch(/^sha256:[0-9a-f]{16}$/);
    await expectImages(
      release,
      [namespace],
      [image(namespace, "existing"), image(namespace, "new"), image(namespace, "annotated")],
    );

    // The status says why each is in; the workload's own annotation adds nothing.
    await waitFor("statuses that say why", async () => {
      const viaNamespace = (await annotations(namespace, "new"))["prepull.dev/status"] ?? "";
      const viaAnnotation = (await annotations(namespace, "annotated"))["prepull.dev/status"] ?? "";
      return / \(via namespace\)$/.test(viaNamespace) && /nodes ready$/.test(viaAnnotation)
        ? true
        : undefined;
    });
    expect((await annotations(namespace, "opted-out"))["prepull.dev/status"]).toBeUndefined();

    // Removing the label lets the namespace's images go; the annotated one stays.
    await setLabel(namespace, undefined);
    await expectImages(release, [namespace], [image(namespace, "annotated")]);
    calls["unlabelled again, no annotation (out)"] = await callsDuring(prepull, () =>
      create(namespace, plain(namespace, "after")),
    );
    expect(calls["unlabelled again, no annotation (out)"]).toBe(0);
    console.info(`webhook calls per case: ${JSON.stringify(calls)}`);
  });
});

describe("with the cluster default on", () => {
  let release: string;
  let excluded: string;
  let prepull: RunningPrepull;

  beforeAll(async () => {
    release = await createNamespace("prepull-cldef");
    excluded = await createNamespace("cldef-excluded");
    prepull = await startPrepull({
      namespace: release,
      reconciler: true,
      env: { PREPULL_CLUSTER_DEFAULT: "on", PREPULL_EXCLUDED_NAMESPACES: excluded },
    });
  });

  afterAll(async () => {
    await prepull?.stop();
    if (release) await deleteNamespace(release);
    if (excluded) await deleteNamespace(excluded);
  });

  test("every namespace not excluded is in, an excluded one is left alone, an opt-out stays out", async () => {
    const open = await withNamespace("cldef-open");
    const registration = await registerWebhook({
      target: prepull,
      probeNamespace: open,
      onlyNamespaces: [open, excluded],
      extraExcludedNamespaces: [excluded],
      clusterDefault: true,
    });
    onTestFinished(() => registration.remove());
    const calls: Record<string, number> = {};

    calls["excluded namespace, no annotation (out)"] = await callsDuring(prepull, () =>
      create(excluded, plain(excluded, "left-alone")),
    );
    calls['excluded namespace, prepull: "true" (out)'] = await callsDuring(prepull, () =>
      create(excluded, plain(excluded, "annotated", { prepull: "true" })),
    );
    calls['open namespace, prepull: "false" (out)'] = await callsDuring(prepull, () =>
      create(open, plain(open, "opted-out", { prepull: "false" })),
    );
    calls["open namespace, no annotation (in via cluster default)"] = await callsDuring(prepull, () =>
      create(open, plain(open, "everyday")),
    );
    expect(calls).toEqual({
      "excluded namespace, no annotation (out)": 0,
      'excluded namespace, prepull: "true" (out)': 0,
      'open namespace, prepull: "false" (out)': 0,
      "open namespace, no annotation (in via cluster default)": 1,
    });
    await expectImages(release, [open, excluded], [image(open, "everyday")]);
    await waitFor("a status that says the cluster default", async () =>
      / \(via cluster default\)$/.test((await annotations(open, "everyday"))["prepull.dev/status"] ?? "")
        ? true
        : undefined,
    );
    expect((await annotations(excluded, "left-alone"))["prepull.dev/status"]).toBeUndefined();
    console.info(`webhook calls per case: ${JSON.stringify(calls)}`);
  });
});
