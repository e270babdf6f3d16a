// Least privilege, run for real: prepull (src/main.ts, reconciler on, mirrored pull secrets,
// secure metrics) holding nothing but a token of the chart's ServiceAccount, with the chart's
// ClusterRole, Role and ValidatingAdmissionPolicy in place. It must do its whole job (DaemonSet,
// mirrored Secret, status annotation, Event, /metrics reviews, clean-up) and never be refused:
// every call it makes is granted, and the policy lets its status write through.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RbacAuthorizationV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, expect, test } from "vitest";
import { daemonSetWith, MANAGED_SELECTOR, waitFor } from "../../bench/reconcile-harness.ts";
import { send } from "../support/https-client.ts";
import { type Installed, installRbac } from "./support/chart-rbac.ts";
import { adminClients } from "./support/cluster.ts";
import { withNamespace } from "./support/namespace.ts";
import { type RunningPrepull, startPrepull } from "./support/prepull.ts";
import { deployment } from "./support/workloads.ts";

let installed: Installed;
let prepull: RunningPrepull;
let dir: string;
const scraperBinding = `e2e-scraper-${randomBytes(3).toString("hex")}`;

beforeAll(async () => {
  installed = await installRbac({ reconciler: { mirrorPullSecrets: true } });
  dir = mkdtempSync(join(tmpdir(), "prepull-least-privilege-"));
  const kubeconfig = join(dir, "kubeconfig");
  writeFileSync(kubeconfig, installed.kubeConfig.exportConfig(), { mode: 0o600 });
  // The authorizer learns new bindings through a watch: wait until the ServiceAccount may list.
  await waitFor("the ServiceAccount's grants to be in effect", async () => {
    try {
      await installed.clients.apps.listDeploymentForAllNamespaces({ limit: 1 });
      return true;
    } catch {
      return undefined;
    }
  });
  prepull = await startPrepull({
    namespace: installed.namespace,
    kubeconfig,
    reconciler: true,
    env: { PREPULL_MIRROR_PULL_SECRETS: "true", METRICS_AUTH: "on" },
  });
});

afterAll(async () => {
  await prepull?.stop();
  const rbac = adminClients().kubeConfig.makeApiClient(RbacAuthorizationV1Api);
  await rbac.deleteClusterRoleBinding({ name: scraperBinding }).catch(() => undefined);
  await installed?.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("prepull does its whole job as the chart's ServiceAccount and is never refused", async () => {
  const { core, apps } = adminClients();
  const release = installed.namespace;
  const tenant = await withNamespace("lp-tenant");
  await core.createNamespacedSecret({
    namespace: tenant,
    body: {
      metadata: { name: "regcred" },
      type: "kubernetes.io/dockerconfigjson",
      data: { ".dockerconfigjson": Buffer.from('{"auths":{}}').toString("base64") },
    },
  });
  const image = `registry.example.com/e2e/${tenant}/private:1`;
  const body = deployment({
    name: "private",
    optedIn: true,
    image,
    replicas: 0,
    // Dropped by the default policy: the note makes prepull write an Event.
    tolerations: [{ operator: "Exists" }],
  });
  if (body.spec?.template.spec) body.spec.template.spec.imagePullSecrets = [{ name: "regcred" }];
  await apps.createNamespacedDeployment({ namespace: tenant, body });

  // DaemonSet (server-side apply) and mirrored Secret, in the release namespace.
  const ds = await waitFor("the DaemonSet", () => daemonSetWith(apps, release, image));
  const mirrors = await core.listNamespacedSecret({ namespace: release, labelSelector: MANAGED_SELECTOR });
  expect(mirrors.items.map((s) => s.metadata?.name)).toEqual(
    (ds.spec?.template.spec?.imagePullSecrets ?? []).map((s) => s.name),
  );
  // The Event this prepull wrote (other reconcilers of the suite may write their own).
  const identity = `e2e-${release}_`;
  await waitFor("prepull's PrepullRestricted Event", async () => {
    const events = await core.listNamespacedEvent({
      namespace: tenant,
      fieldSelector: "involvedObject.name=private,reason=PrepullRestricted",
    });
    return events.items.some((e) => e.source?.host?.startsWith(identity)) ? true : undefined;
  });

  // /metrics: a token of another ServiceAccount, bound to the chart's metrics-reader role.
  await core.createNamespacedServiceAccount({ namespace: release, body: { metadata: { name: "scraper" } } });
  const rbac = adminClients().kubeConfig.makeApiClient(RbacAuthorizationV1Api);
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: scraperBinding },
      roleRef: {
        apiGroup: "rbac.authorization.k8s.io",
        kind: "ClusterRole",
        name: `${installed.release}-prepull-metrics-reader`,
      },
      subjects: [{ kind: "ServiceAccount", name: "scraper", namespace: release }],
    },
  });
  const token = await core.createNamespacedServiceAccountToken({
    name: "scraper",
    namespace: release,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const scraped = await waitFor("an authorised scrape", async () => {
    const reply = await send({
      port: prepull.metricsPort,
      ca: prepull.caPem,
      path: "/metrics",
      headers: { authorization: `Bearer ${token.status?.token ?? ""}` },
    });
    return reply.status === 200 ? reply.text : undefined;
  });
  expect(scraped).toMatch(/^prepull_leader 1$/m);

  // Clean-up: the DaemonSet and the mirror go with the workload.
  await apps.deleteNamespacedDeployment({ name: "private", namespace: tenant });
  await waitFor("the DaemonSet and mirror to be deleted", async () => {
    const left = await core.listNamespacedSecret({ namespace: release, labelSelector: MANAGED_SELECTOR });
    const dsLeft = await daemonSetWith(apps, release, image);
    return left.items.length === 0 && dsLeft === undefined ? true : undefined;
  });

  // Nothing was refused along the way: no RBAC denial ("User ... cannot <verb> resource ...") and
  // no policy denial in prepull's log. (A 403 for an Event in a namespace being deleted by another
  // test is the apiserver's lifecycle rule, not RBAC, and does not match.)
  const output = prepull.output();
  expect(output).not.toMatch(/cannot \w+ resource/);
  expect(output).not.toContain("may change only the prepull.dev/status annotation");
});
