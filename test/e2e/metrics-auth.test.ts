// prepull's endpoints do not trust the caller, on the real control plane: /metrics (its own port)
// answers only a bearer token the real apiserver authenticates (TokenReview) and authorises for
// `get` on /metrics (SubjectAccessReview); forged AdmissionReviews on /mutate cannot add metric
// series; image names stay out of the metrics by default.
import { randomBytes } from "node:crypto";
import { RbacAuthorizationV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, expect, test } from "vitest";
import { waitFor } from "../../bench/reconcile-harness.ts";
import { send } from "../support/https-client.ts";
import { adminClients } from "./support/cluster.ts";
import { createNamespace, deleteNamespace, withNamespace } from "./support/namespace.ts";
import { type RunningPrepull, startPrepull } from "./support/prepull.ts";
import { deployment } from "./support/workloads.ts";

let namespace: string;
let prepull: RunningPrepull;
const reader = `e2e-metrics-reader-${randomBytes(3).toString("hex")}`;

beforeAll(async () => {
  namespace = await createNamespace("prepull-metrics");
  // The secure defaults: METRICS_AUTH on, no image names.
  prepull = await startPrepull({
    namespace,
    reconciler: true,
    env: { METRICS_AUTH: "on", PREPULL_METRICS_IMAGE_NAMES: "false" },
  });
});

afterAll(async () => {
  await prepull?.stop();
  const rbac = adminClients().kubeConfig.makeApiClient(RbacAuthorizationV1Api);
  await rbac.deleteClusterRoleBinding({ name: reader }).catch(() => undefined);
  await rbac.deleteClusterRole({ name: reader }).catch(() => undefined);
  if (namespace) await deleteNamespace(namespace);
});

function scrape(token?: string) {
  return send({
    port: prepull.metricsPort,
    ca: prepull.caPem,
    path: "/metrics",
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
}

async function serviceAccountToken(name: string): Promise<string> {
  const { core } = adminClients();
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  const request = await core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  return request.status?.token ?? "";
}

/** The authorised scrape, retried until the apiserver's authorizer has seen the binding. */
async function authorisedScrape(token: string): Promise<string> {
  return waitFor("an authorised scrape", async () => {
    const reply = await scrape(token);
    return reply.status === 200 ? reply.text : undefined;
  });
}

test("an unauthenticated /metrics request is refused; an authorised ServiceAccount is served", async () => {
  const anonymous = await scrape();
  expect(anonymous.status).toBe(401);
  expect(anonymous.text).not.toContain("prepull_");
  expect((await scrape("not-a-token")).status).toBe(401);

  // Authenticated, but nothing grants it /metrics.
  const token = await serviceAccountToken("scraper");
  const forbidden = await scrape(token);
  expect(forbidden.status).toBe(403);
  expect(forbidden.text).not.toContain("prepull_");

  // What a Prometheus needs: get on the non-resource URL /metrics.
  const rbac = adminClients().kubeConfig.makeApiClient(RbacAuthorizationV1Api);
  await rbac.createClusterRole({
    body: { metadata: { name: reader }, rules: [{ nonResourceURLs: ["/metrics"], verbs: ["get"] }] },
  });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: reader },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: reader },
      subjects: [{ kind: "ServiceAccount", name: "scraper", namespace }],
    },
  });
  expect(await authorisedScrape(token)).toMatch(/^prepull_leader [01]$/m);
});

test("forged reviews add no /metrics series", async () => {
  const token = await serviceAccountToken("counter");
  const rbac = adminClients().kubeConfig.makeApiClient(RbacAuthorizationV1Api);
  await rbac.patchClusterRoleBinding({
    name: reader,
    body: [{ op: "add", path: "/subjects/-", value: { kind: "ServiceAccount", name: "counter", namespace } }],
  });
  // The admission families are the only ones a review can touch. The reconciler's series (one
  // trio per tracked image, one per write outcome) follow what other tests do in the cluster, so
  // they are left out of the comparison; the whole scrape is searched for the forged names instead.
  const admissionSeries = async () =>
    (await authorisedScrape(token))
      .split("\n")
      .filter((l) => l.startsWith("prepull_admission_"))
      .map((l) => l.slice(0, l.lastIndexOf(" ")))
      .sort();
  const forge = (i: number) =>
    send({
      port: prepull.port,
      ca: prepull.caPem,
      path: "/mutate",
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        apiVersion: "admission.k8s.io/v1",
        kind: "AdmissionReview",
        request: {
          uid: `forged-${i}`,
          kind: { group: "forged", version: "v1", kind: `Forged${i}` },
          resource: { group: "forged", version: "v1", resource: "forged" },
          operation: `FORGED${i}`,
          object: { metadata: { name: `forged-${i}` } },
        },
      }),
    });
  // The `other` series may appear on the first forged review: count after it.
  expect((await forge(-1)).status).toBe(200);
  const before = await admissionSeries();
  expect(before.length).toBeGreaterThan(0);
  for (let i = 0; i < 300; i++) expect((await forge(i)).status).toBe(200);
  expect(await admissionSeries()).toEqual(before);
  const after = await authorisedScrape(token);
  expect(after).not.toMatch(/forged/i);
  expect(after).toMatch(
    /^prepull_admission_requests_total\{kind="other",operation="other",outcome="ignored"\} 30[1-9]$/m,
  );
});

test("image names stay out of /metrics by default", async () => {
  const token = await serviceAccountToken("image-reader");
  const rbac = adminClients().kubeConfig.makeApiClient(RbacAuthorizationV1Api);
  await rbac.patchClusterRoleBinding({
    name: reader,
    body: [
      { op: "add", path: "/subjects/-", value: { kind: "ServiceAccount", name: "image-reader", namespace } },
    ],
  });
  const tenant = await withNamespace("metrics-tenant");
  await adminClients().apps.createNamespacedDeployment({
    namespace: tenant,
    body: deployment({
      name: "model",
      optedIn: true,
      image: "registry.example.com/e2e/secret-project/model:1",
      replicas: 0,
    }),
  });
  // 12 hex digits of sha256("registry.example.com/e2e/secret-project/model:1").
  const text = await waitFor("the image's gauge under its hash", async () => {
    const body = await authorisedScrape(token);
    return body.includes('prepull_image_nodes_eligible{image="bbe4fd915504"}') ? body : undefined;
  });
  expect(text).not.toContain("secret-project");
  expect(text).not.toContain("registry.example.com");
});
