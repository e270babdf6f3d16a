// Least privilege, run for real: prepull (src/main.ts, reconciler on, mirrored pull secrets,
// secure metrics) holding nothing but a token of the chart's ServiceAccount, with the chart's
// ClusterRole, Role and ValidatingAdmissionPolicy in place. It must do its whole job (DaemonSet,
// mirrored Secret, status annotation, Event, /metrics reviews, clean-up) and never be refused:
// every call it makes is granted, and the policy lets its status write through. Then the
// apiserver's audit log (scripts/cluster/audit-policy.yaml: every ServiceAccount request, metadata
// only) shows both halves of least privilege: every call was granted, every grant was used.
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BatchV1Api, RbacAuthorizationV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, expect, test } from "vitest";
import { daemonSetWith, MANAGED_SELECTOR, waitFor } from "../../bench/reconcile-harness.ts";
import { auditLogPath } from "../../scripts/cluster/components.ts";
import { clusterPaths } from "../../scripts/cluster/paths.ts";
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
  // One of each other kind, so that patching each (the status annotation) is exercised. Another
  // image, without pull secrets: it goes to the shared DaemonSet, not the tenant's.
  const template = {
    metadata: { labels: { app: "other" } },
    spec: {
      containers: [{ name: "main", image: `registry.example.com/e2e/${tenant}/other:1` }],
      restartPolicy: "Never",
    },
  };
  const annotations = { prepull: "true" };
  const batch = adminClients().kubeConfig.makeApiClient(BatchV1Api);
  await apps.createNamespacedStatefulSet({
    namespace: tenant,
    body: {
      metadata: { name: "set", annotations },
      spec: {
        replicas: 0,
        serviceName: "set",
        selector: { matchLabels: { app: "other" } },
        template: { ...template, spec: { containers: template.spec.containers } },
      },
    },
  });
  await batch.createNamespacedJob({
    namespace: tenant,
    body: { metadata: { name: "job", annotations }, spec: { suspend: true, template } },
  });
  await batch.createNamespacedCronJob({
    namespace: tenant,
    body: {
      metadata: { name: "cron", annotations },
      spec: { schedule: "0 0 1 1 *", suspend: true, jobTemplate: { spec: { template } } },
    },
  });

  // DaemonSet (server-side apply) and mirrored Secret, in the release namespace.
  const ds = await waitFor("the DaemonSet with the mirrored secret", async () => {
    const found = await daemonSetWith(apps, release, image);
    return (found?.spec?.template.spec?.imagePullSecrets ?? []).length > 0 ? found : undefined;
  });
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

  // Its status on each kind (a merge patch the ValidatingAdmissionPolicy lets through).
  await waitFor("the status on every kind", async () => {
    const all = await Promise.all([
      apps.readNamespacedStatefulSet({ name: "set", namespace: tenant }),
      batch.readNamespacedJob({ name: "job", namespace: tenant }),
      batch.readNamespacedCronJob({ name: "cron", namespace: tenant }),
    ]);
    return all.every((o) => o.metadata?.annotations?.["prepull.dev/status"] !== undefined) ? true : undefined;
  });

  // Clean-up: the DaemonSet and the mirror go with the workloads that needed them.
  await apps.deleteNamespacedDeployment({ name: "private", namespace: tenant });
  for (const name of ["set"]) await apps.deleteNamespacedStatefulSet({ name, namespace: tenant });
  await batch.deleteNamespacedJob({ name: "job", namespace: tenant });
  await batch.deleteNamespacedCronJob({ name: "cron", namespace: tenant });
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

interface Call {
  verb: string;
  group: string;
  resource: string;
  namespace: string;
  code: number;
  message: string;
}

interface Grant {
  /** "" for a ClusterRole (any namespace), else the Role's namespace. */
  namespace: string;
  group: string;
  resource: string;
  verb: string;
}

/** What the ServiceAccount did, from the audit log (resource requests only). */
function callsOf(log: string, username: string): Call[] {
  const calls: Call[] = [];
  for (const line of log.split("\n")) {
    if (!line.includes(username)) continue;
    const event = JSON.parse(line) as {
      verb: string;
      user: { username: string };
      objectRef?: { apiGroup?: string; resource?: string; subresource?: string; namespace?: string };
      responseStatus?: { code?: number; message?: string };
    };
    if (event.user.username !== username || event.objectRef?.resource === undefined) continue;
    calls.push({
      verb: event.verb,
      group: event.objectRef.apiGroup ?? "",
      resource: event.objectRef.subresource
        ? `${event.objectRef.resource}/${event.objectRef.subresource}`
        : event.objectRef.resource,
      namespace: event.objectRef.namespace ?? "",
      code: event.responseStatus?.code ?? 0,
      message: event.responseStatus?.message ?? "",
    });
  }
  return calls;
}

function grantsOf(installed: Installed): Grant[] {
  const own = `${installed.release}-prepull`;
  const grants: Grant[] = [];
  for (const m of installed.manifests) {
    if ((m.kind !== "ClusterRole" && m.kind !== "Role") || m.metadata.name !== own) continue;
    const rules = (m as { rules?: { apiGroups?: string[]; resources?: string[]; verbs?: string[] }[] }).rules;
    for (const rule of rules ?? [])
      for (const group of rule.apiGroups ?? [])
        for (const resource of rule.resources ?? [])
          for (const verb of rule.verbs ?? [])
            grants.push({ namespace: m.kind === "Role" ? installed.namespace : "", group, resource, verb });
  }
  return grants;
}

/**
 * The verbs a call needed: its own, and `create` too for a server-side apply that created the
 * object (a PATCH answered 201), which the apiserver authorises as create as well.
 */
function verbsNeeded(call: Call): string[] {
  return call.verb === "patch" && call.code === 201 ? ["patch", "create"] : [call.verb];
}

function covers(grant: Grant, call: Call, verb: string): boolean {
  return (
    grant.verb === verb &&
    grant.group === call.group &&
    grant.resource === call.resource &&
    (grant.namespace === "" || grant.namespace === call.namespace)
  );
}

test("the audit log: every call prepull's ServiceAccount made was granted, and every grant was used", async () => {
  const auditLog = auditLogPath(clusterPaths());
  expect(
    existsSync(auditLog),
    `${auditLog} is missing: the plane predates its audit policy; restart it (npm run cluster:down)`,
  ).toBe(true);
  const username = `system:serviceaccount:${installed.namespace}:${installed.serviceAccount}`;
  const grants = grantsOf(installed);
  // Every grant but the Lease's watch is used within seconds; wait until the log shows them all.
  const calls = await waitFor(
    "every grant in the audit log",
    async () => {
      const found = callsOf(readFileSync(auditLog, "utf8"), username);
      const unused = grants.filter((g) => !found.some((c) => verbsNeeded(c).some((v) => covers(g, c, v))));
      return unused.length === 0 ? found : undefined;
    },
    30_000,
  ).catch((error: unknown) => {
    const found = callsOf(readFileSync(auditLog, "utf8"), username);
    const unused = grants.filter((g) => !found.some((c) => verbsNeeded(c).some((v) => covers(g, c, v))));
    throw new Error(`${String(error)}; never used: ${JSON.stringify(unused)}`);
  });
  expect(calls.length).toBeGreaterThan(0);
  const refused = calls.filter((c) => c.code === 403 || c.code === 401);
  // A 403 for an Event in a namespace another test is deleting is the namespace lifecycle, not RBAC.
  const refusedByRbac = refused.filter((c) => !c.message.includes("because it is being terminated"));
  expect(refusedByRbac).toEqual([]);
  const ungranted = calls.filter((c) => !verbsNeeded(c).every((v) => grants.some((g) => covers(g, c, v))));
  expect(ungranted).toEqual([]);
});
