// The chart's RBAC, judged by the real apiserver's authorizer: the chart is rendered, its
// ServiceAccount, Roles and Bindings are created in a fresh release namespace, a token for that
// ServiceAccount comes from the TokenRequest API, and a client holding only that token tries what
// prepull does and what it must never be able to do. Writes are dry runs (dryRun=All): RBAC is
// checked before the dry run, and nothing is left behind.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { waitFor } from "../../bench/reconcile-harness.ts";
import { type Installed, installRbac } from "./support/chart-rbac.ts";
import { adminClients } from "./support/cluster.ts";
import { createNamespace, deleteNamespace } from "./support/namespace.ts";
import { daemonSet, deployment } from "./support/workloads.ts";

/** The HTTP status an API call ends with: 200 for success, else the API error's code. */
async function statusOf(call: () => Promise<unknown>): Promise<number> {
  try {
    await call();
    return 200;
  } catch (error) {
    if (error instanceof Error && "code" in error && typeof error.code === "number") return error.code;
    throw error;
  }
}

describe("the chart's RBAC with default values", () => {
  let installed: Installed;
  let otherNamespace: string;

  beforeAll(async () => {
    installed = await installRbac({});
    otherNamespace = await createNamespace("rbac-other");
    // The authorizer learns new bindings through a watch: wait until the first grant is in effect.
    await vi.waitFor(
      async () =>
        expect(await statusOf(() => installed.clients.apps.listDeploymentForAllNamespaces())).toBe(200),
      { timeout: 30_000, interval: 200 },
    );
  });

  afterAll(async () => {
    await installed?.remove();
    if (otherNamespace) await deleteNamespace(otherNamespace);
  });

  it("acts as the chart's ServiceAccount, nothing more", async () => {
    const review = await installed.clients.authentication.createSelfSubjectReview({ body: {} });
    expect(review.status?.userInfo?.username).toBe(
      `system:serviceaccount:${installed.namespace}:${installed.serviceAccount}`,
    );
    expect(review.status?.userInfo?.groups).not.toContain("system:masters");
  });

  it("can list and watch the four workload kinds in every namespace", async () => {
    const { apps, batch } = installed.clients;
    expect(await statusOf(() => apps.listDeploymentForAllNamespaces())).toBe(200);
    expect(await statusOf(() => apps.listStatefulSetForAllNamespaces())).toBe(200);
    expect(await statusOf(() => batch.listJobForAllNamespaces())).toBe(200);
    expect(await statusOf(() => batch.listCronJobForAllNamespaces())).toBe(200);
    // A watch streams; whether it is allowed is asked of the authorizer directly, with the token.
    for (const [group, resource] of [
      ["apps", "deployments"],
      ["apps", "statefulsets"],
      ["batch", "jobs"],
      ["batch", "cronjobs"],
    ]) {
      const review = await installed.clients.authorization.createSelfSubjectAccessReview({
        body: { spec: { resourceAttributes: { group, resource, verb: "watch" } } },
      });
      expect(review.status?.allowed, `${resource}`).toBe(true);
    }
  });

  it("can create, update and delete DaemonSets in the release namespace", async () => {
    const { apps } = installed.clients;
    const namespace = installed.namespace;
    const body = daemonSet("prepull-rbac-probe");
    expect(await statusOf(() => apps.createNamespacedDaemonSet({ namespace, body, dryRun: "All" }))).toBe(
      200,
    );
    // Not found (404), not forbidden (403): the verbs are granted, there is just nothing there.
    expect(
      await statusOf(() => apps.deleteNamespacedDaemonSet({ name: "none", namespace, dryRun: "All" })),
    ).toBe(404);
    expect(await statusOf(() => apps.listNamespacedDaemonSet({ namespace }))).toBe(200);
  });

  it("cannot create DaemonSets anywhere else", async () => {
    const { apps } = installed.clients;
    const body = daemonSet("prepull-rbac-probe");
    expect(
      await statusOf(() =>
        apps.createNamespacedDaemonSet({ namespace: otherNamespace, body, dryRun: "All" }),
      ),
    ).toBe(403);
    expect(await statusOf(() => apps.listDaemonSetForAllNamespaces())).toBe(403);
  });

  it("cannot read Secrets, in its own namespace or any other", async () => {
    const { core } = installed.clients;
    expect(await statusOf(() => core.listNamespacedSecret({ namespace: installed.namespace }))).toBe(403);
    expect(await statusOf(() => core.listNamespacedSecret({ namespace: otherNamespace }))).toBe(403);
    expect(await statusOf(() => core.listSecretForAllNamespaces())).toBe(403);
    expect(await statusOf(() => core.readNamespacedSecret({ name: "any", namespace: "kube-system" }))).toBe(
      403,
    );
  });

  it("may delete prepull's leftover mirrors in its namespace by label, without reading any Secret", async () => {
    const { core } = installed.clients;
    const labelSelector = "app.kubernetes.io/managed-by=prepull,app.kubernetes.io/component=image-cache";
    expect(
      await statusOf(() =>
        core.deleteCollectionNamespacedSecret({
          namespace: installed.namespace,
          labelSelector,
          dryRun: "All",
        }),
      ),
    ).toBe(200);
    expect(
      await statusOf(() =>
        core.deleteCollectionNamespacedSecret({ namespace: otherNamespace, labelSelector, dryRun: "All" }),
      ),
    ).toBe(403);
    expect(
      await statusOf(() => core.readNamespacedSecret({ name: "absent", namespace: installed.namespace })),
    ).toBe(403);
  });

  it("lists and watches Namespaces and RuntimeClasses (placement bounds), and may not change them", async () => {
    const { core, authorization } = installed.clients;
    expect(await statusOf(() => core.listNamespace())).toBe(200);
    for (const [group, resource, verb, allowed] of [
      ["", "namespaces", "watch", true],
      ["node.k8s.io", "runtimeclasses", "list", true],
      ["node.k8s.io", "runtimeclasses", "watch", true],
      ["", "namespaces", "patch", false],
      ["node.k8s.io", "runtimeclasses", "create", false],
      ["", "serviceaccounts", "list", false],
    ] as const) {
      const review = await authorization.createSelfSubjectAccessReview({
        body: { spec: { resourceAttributes: { group, resource, verb } } },
      });
      expect(review.status?.allowed, `${verb} ${resource}`).toBe(allowed);
    }
  });

  it("reads pods only in its own namespace (where its DaemonSets' pods run)", async () => {
    const { core } = installed.clients;
    expect(await statusOf(() => core.listNamespacedPod({ namespace: installed.namespace }))).toBe(200);
    expect(await statusOf(() => core.listNamespacedPod({ namespace: otherNamespace }))).toBe(403);
    expect(await statusOf(() => core.listPodForAllNamespaces())).toBe(403);
  });

  it("can hold its leader-election Lease in its own namespace only", async () => {
    const { coordination } = installed.clients;
    const body = { metadata: { name: "prepull-leader" }, spec: { holderIdentity: "probe" } };
    expect(
      await statusOf(() =>
        coordination.createNamespacedLease({ namespace: installed.namespace, body, dryRun: "All" }),
      ),
    ).toBe(200);
    expect(
      await statusOf(() =>
        coordination.createNamespacedLease({ namespace: otherNamespace, body, dryRun: "All" }),
      ),
    ).toBe(403);
  });

  it("can list and watch its Lease (followers take over when it expires) in its own namespace only", async () => {
    const { coordination, authorization } = installed.clients;
    // The reconciler's Lease watch: a list by name, then a watch from its resourceVersion.
    const fieldSelector = "metadata.name=prepull-reconciler";
    expect(
      await statusOf(() =>
        coordination.listNamespacedLease({ namespace: installed.namespace, fieldSelector }),
      ),
    ).toBe(200);
    expect(
      await statusOf(() => coordination.listNamespacedLease({ namespace: otherNamespace, fieldSelector })),
    ).toBe(403);
    for (const [namespace, allowed] of [
      [installed.namespace, true],
      [otherNamespace, false],
    ] as const) {
      const review = await authorization.createSelfSubjectAccessReview({
        body: {
          spec: {
            resourceAttributes: {
              group: "coordination.k8s.io",
              resource: "leases",
              verb: "watch",
              namespace,
            },
          },
        },
      });
      expect(review.status?.allowed, namespace).toBe(allowed);
    }
  });

  it("can record Events on workloads in any namespace, and patch workloads (status annotation)", async () => {
    const { core, apps } = installed.clients;
    const event = {
      metadata: { generateName: "prepull-" },
      involvedObject: { kind: "Deployment", namespace: otherNamespace, name: "app" },
      reason: "PrePullFailed",
      message: "probe",
      type: "Warning",
    };
    expect(
      await statusOf(() =>
        core.createNamespacedEvent({ namespace: otherNamespace, body: event, dryRun: "All" }),
      ),
    ).toBe(200);
    // 404: allowed to patch, the Deployment just does not exist. 403 would mean not allowed.
    expect(
      await statusOf(() =>
        apps.patchNamespacedDeployment({
          name: "absent",
          namespace: otherNamespace,
          body: [{ op: "add", path: "/metadata/annotations/prepull.dev~1status", value: "0/0" }],
          dryRun: "All",
        }),
      ),
    ).toBe(404);
    // But it may not create or delete workloads.
    expect(
      await statusOf(() => apps.deleteNamespacedDeployment({ name: "absent", namespace: otherNamespace })),
    ).toBe(403);
  });
});

describe("the chart's RBAC and Nodes", () => {
  let gateOff: Installed;
  let gateOn: Installed;

  beforeAll(async () => {
    [gateOff, gateOn] = await Promise.all([installRbac({}), installRbac({ nodeGate: { enabled: true } })]);
    await vi.waitFor(
      async () => {
        expect(await statusOf(() => gateOn.clients.core.listNode())).toBe(200);
        expect(await statusOf(() => gateOff.clients.apps.listDeploymentForAllNamespaces())).toBe(200);
      },
      { timeout: 30_000, interval: 200 },
    );
  });

  afterAll(async () => {
    await Promise.all([gateOff?.remove(), gateOn?.remove()]);
  });

  async function allowed(installed: Installed, verb: string): Promise<boolean> {
    const review = await installed.clients.authorization.createSelfSubjectAccessReview({
      body: { spec: { resourceAttributes: { group: "", resource: "nodes", verb } } },
    });
    return review.status?.allowed === true;
  }

  it("with the node gate off (the default), no access to Nodes at all", async () => {
    expect(await statusOf(() => gateOff.clients.core.listNode())).toBe(403);
    for (const verb of ["get", "list", "watch", "patch"])
      expect(await allowed(gateOff, verb), verb).toBe(false);
  });

  it("with nodeGate.enabled: get, list, watch and patch Nodes, Events in default; never update or delete", async () => {
    const { core } = gateOn.clients;
    for (const verb of ["get", "list", "watch", "patch"])
      expect(await allowed(gateOn, verb), verb).toBe(true);
    for (const verb of ["update", "delete", "create"]) expect(await allowed(gateOn, verb), verb).toBe(false);
    // The taint removal: a JSON patch; 404 (allowed, no such node), not 403.
    expect(
      await statusOf(() =>
        core.patchNode({
          name: "absent",
          body: [{ op: "remove", path: "/spec/taints/0" }],
          dryRun: "All",
        }),
      ),
    ).toBe(404);
    // The deadline Event, about a node, in the default namespace.
    const event = {
      metadata: { generateName: "prepull-" },
      involvedObject: { apiVersion: "v1", kind: "Node", name: "absent" },
      reason: "PrepullNodeGateDeadline",
      message: "probe",
      type: "Warning",
    };
    expect(
      await statusOf(() => core.createNamespacedEvent({ namespace: "default", body: event, dryRun: "All" })),
    ).toBe(200);
    // Its own Lease, beside the reconciler's.
    const lease = { metadata: { name: "prepull-node-gate" }, spec: { holderIdentity: "probe" } };
    expect(
      await statusOf(() =>
        gateOn.clients.coordination.createNamespacedLease({
          namespace: gateOn.namespace,
          body: lease,
          dryRun: "All",
        }),
      ),
    ).toBe(200);
  });
});

describe("the chart's RBAC with reconciler.mirrorPullSecrets", () => {
  let installed: Installed;
  let otherNamespace: string;

  beforeAll(async () => {
    installed = await installRbac({ reconciler: { mirrorPullSecrets: true } });
    otherNamespace = await createNamespace("rbac-other");
    await vi.waitFor(
      async () =>
        expect(
          await statusOf(() =>
            installed.clients.core.listNamespacedSecret({ namespace: installed.namespace }),
          ),
        ).toBe(200),
      { timeout: 30_000, interval: 200 },
    );
  });

  afterAll(async () => {
    await installed?.remove();
    if (otherNamespace) await deleteNamespace(otherNamespace);
  });

  it("gets (never lists) Secrets everywhere (the workloads' pull secrets) and writes them only in its namespace", async () => {
    const { core } = installed.clients;
    // 404: allowed to get, there is no such Secret. 403 would mean not allowed.
    expect(
      await statusOf(() => core.readNamespacedSecret({ name: "absent", namespace: otherNamespace })),
    ).toBe(404);
    expect(await statusOf(() => core.listNamespacedSecret({ namespace: otherNamespace }))).toBe(403);
    expect(await statusOf(() => core.listSecretForAllNamespaces())).toBe(403);
    expect(await statusOf(() => core.listNamespacedSecret({ namespace: installed.namespace }))).toBe(200);
    const body = {
      metadata: { name: "mirrored-pull-secret" },
      type: "kubernetes.io/dockerconfigjson",
      data: { ".dockerconfigjson": Buffer.from('{"auths":{}}').toString("base64") },
    };
    expect(
      await statusOf(() =>
        core.createNamespacedSecret({ namespace: installed.namespace, body, dryRun: "All" }),
      ),
    ).toBe(200);
    expect(
      await statusOf(() => core.createNamespacedSecret({ namespace: otherNamespace, body, dryRun: "All" })),
    ).toBe(403);
  });
});

const REFUSAL = "prepull's ServiceAccount may change only the prepull.dev/status annotation of a workload";

describe("the chart's ValidatingAdmissionPolicy", () => {
  let installed: Installed;
  let workloads: string;

  beforeAll(async () => {
    installed = await installRbac({});
    workloads = await createNamespace("vap-workloads");
    await adminClients().apps.createNamespacedDeployment({
      namespace: workloads,
      body: deployment({ name: "app", optedIn: true, replicas: 0 }),
    });
  });

  afterAll(async () => {
    await installed?.remove();
    if (workloads) await deleteNamespace(workloads);
  });

  /** A JSON patch of the Deployment as prepull's ServiceAccount (a dry run: nothing is changed). */
  async function patchAsPrepull(patch: object[]): Promise<{ status: number; message: string }> {
    try {
      await installed.clients.apps.patchNamespacedDeployment({
        name: "app",
        namespace: workloads,
        body: patch,
        dryRun: "All",
      });
      return { status: 200, message: "" };
    } catch (error) {
      if (error instanceof Error && "code" in error && typeof error.code === "number")
        return { status: error.code, message: "body" in error ? String(error.body) : error.message };
      throw error;
    }
  }

  it("refuses prepull's ServiceAccount a spec change", async () => {
    // The apiserver learns new policies and bindings through a watch: wait until it refuses.
    const refused = await waitFor("the policy to refuse a spec change", async () => {
      const result = await patchAsPrepull([{ op: "replace", path: "/spec/replicas", value: 5 }]);
      // Until then RBAC (a 403 without this message) or nothing (200) answers.
      return result.message.includes(REFUSAL) ? result : undefined;
    });
    expect(refused.status).toBe(403);
    expect(refused.message).toContain(REFUSAL);
  });

  it.each([
    ["a label", [{ op: "add", path: "/metadata/labels/tampered", value: "yes" }]],
    ["another annotation", [{ op: "add", path: "/metadata/annotations/prepull", value: "false" }]],
    [
      "the pod template's image",
      [{ op: "replace", path: "/spec/template/spec/containers/0/image", value: "evil:1" }],
    ],
    ["a finalizer", [{ op: "add", path: "/metadata/finalizers", value: ["example.com/hold"] }]],
  ])("refuses it %s", async (_what, patch) => {
    const result = await patchAsPrepull(patch);
    expect(result.status).toBe(403);
    expect(result.message).toContain(REFUSAL);
  });

  it("lets it write the prepull.dev/status annotation, and others change the spec", async () => {
    expect(
      await patchAsPrepull([
        { op: "add", path: "/metadata/annotations/prepull.dev~1status", value: "1/1 nodes ready" },
      ]),
    ).toEqual({ status: 200, message: "" });
    // The policy matches prepull's ServiceAccount only.
    await adminClients().apps.patchNamespacedDeployment({
      name: "app",
      namespace: workloads,
      body: [{ op: "replace", path: "/spec/replicas", value: 2 }],
      dryRun: "All",
    });
  });
});
