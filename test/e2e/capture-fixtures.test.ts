// PREPULL_CAPTURE_FIXTURES=1 npm run test:e2e -- capture-fixtures
// Captures the AdmissionReviews the real apiserver sends for the kinds and operations the chart
// registers, into test/fixtures/admission-reviews/<case>.json, for the unit tests to replay.
// Skipped otherwise, so a normal run never rewrites the committed fixtures.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { V1CronJob, V1Job, V1StatefulSet } from "@kubernetes/client-node";
import { BatchV1Api } from "@kubernetes/client-node";
import { expect, onTestFinished, test } from "vitest";
import { REPO_ROOT } from "../../scripts/cluster/paths.ts";
import { startCaptureServer } from "./support/capture-server.ts";
import { adminClients } from "./support/cluster.ts";
import { withNamespace } from "./support/namespace.ts";
import { registerWebhook } from "./support/register-webhook.ts";
import { deployment, GPU_TOLERATION, OPT_IN, waitForRollout } from "./support/workloads.ts";

const FIXTURES = join(REPO_ROOT, "test", "fixtures", "admission-reviews");
const capturing = process.env.PREPULL_CAPTURE_FIXTURES === "1";
/** The user of the plane's admin kubeconfig, who makes every request below. */
const ADMIN = "kubernetes-admin";

interface Expected {
  name: string;
  operation: "CREATE" | "UPDATE";
  dryRun?: boolean;
}

const podSpec = (image: string) => ({
  restartPolicy: "Never",
  containers: [{ name: "main", image }],
});

test.runIf(capturing)("capture AdmissionReviews from the real apiserver", async () => {
  const releaseNamespace = await withNamespace("prepull-system");
  const namespace = await withNamespace("fixtures");
  const capture = await startCaptureServer(releaseNamespace);
  onTestFinished(() => capture.close());
  const registration = await registerWebhook({
    target: capture,
    probeNamespace: namespace,
    onlyNamespaces: [namespace],
  });
  onTestFinished(() => registration.remove());

  const { apps, kubeConfig } = adminClients();
  const batch = kubeConfig.makeApiClient(BatchV1Api);
  const rolledOut = (name: string) => waitForRollout(namespace, name);
  // Each case: the fixture's name, the request it captures (name, operation, dry run), the action.
  const cases: [string, Expected, () => Promise<unknown>][] = [
    [
      "deployment-create",
      { name: "web", operation: "CREATE" },
      () =>
        apps.createNamespacedDeployment({
          namespace,
          body: deployment({ name: "web", optedIn: true, image: "nginx:1.27", replicas: 2 }),
        }),
    ],
    [
      "deployment-update",
      { name: "web", operation: "UPDATE" },
      async () => {
        // Let the deployment controller finish first: a patch racing its writes (revision
        // annotation, status) is retried by the apiserver, which calls the webhook per attempt.
        await rolledOut("web");
        return apps.patchNamespacedDeployment({
          namespace,
          name: "web",
          body: [{ op: "replace", path: "/spec/template/spec/containers/0/image", value: "nginx:1.28" }],
        });
      },
    ],
    [
      "deployment-create-dry-run",
      { name: "dry", operation: "CREATE", dryRun: true },
      () =>
        apps.createNamespacedDeployment({
          namespace,
          body: deployment({ name: "dry", optedIn: true, image: "nginx:1.27" }),
          dryRun: "All",
        }),
    ],
    [
      "deployment-create-gpu",
      { name: "trainer", operation: "CREATE" },
      () =>
        apps.createNamespacedDeployment({
          namespace,
          body: deployment({
            name: "trainer",
            optedIn: true,
            image: "nvcr.io/nvidia/pytorch:24.08-py3",
            nodeSelector: { "nvidia.com/gpu.present": "true" },
            tolerations: [GPU_TOLERATION],
          }),
        }),
    ],
    [
      "statefulset-create",
      { name: "db", operation: "CREATE" },
      () =>
        apps.createNamespacedStatefulSet({
          namespace,
          body: {
            metadata: { name: "db", annotations: { ...OPT_IN } },
            spec: {
              serviceName: "db",
              selector: { matchLabels: { app: "db" } },
              template: {
                metadata: { labels: { app: "db" } },
                spec: {
                  initContainers: [
                    { name: "migrate", image: `ghcr.io/example/migrate@sha256:${"a".repeat(64)}` },
                  ],
                  containers: [{ name: "postgres", image: "postgres:16" }],
                },
              },
            },
          } satisfies V1StatefulSet,
        }),
    ],
    [
      "job-create",
      { name: "etl", operation: "CREATE" },
      () =>
        batch.createNamespacedJob({
          namespace,
          body: {
            metadata: { name: "etl", annotations: { ...OPT_IN } },
            spec: { template: { spec: podSpec("python:3.12-slim") } },
          } satisfies V1Job,
        }),
    ],
    [
      "cronjob-create",
      { name: "nightly", operation: "CREATE" },
      () =>
        batch.createNamespacedCronJob({
          namespace,
          body: {
            metadata: { name: "nightly", annotations: { ...OPT_IN } },
            spec: {
              schedule: "0 3 * * *",
              jobTemplate: { spec: { template: { spec: podSpec("busybox:1.36") } } },
            },
          } satisfies V1CronJob,
        }),
    ],
  ];

  await mkdir(FIXTURES, { recursive: true });
  for (const [name, expected, action] of cases) {
    const before = capture.reviews.length;
    await action();
    // Our own request's review: other runs sharing the plane may update objects here too (a
    // reconciler writing status), and the deployment controller writes its revision annotation.
    const ours = capture.reviews
      .slice(before)
      .filter(
        (review) =>
          review.request?.userInfo?.username === ADMIN &&
          review.request?.name === expected.name &&
          review.request?.operation === expected.operation &&
          (review.request?.dryRun ?? false) === (expected.dryRun ?? false),
      );
    // Usually one; more if a conflict made the apiserver retry, and then the last one was stored.
    expect(ours.length, name).toBeGreaterThanOrEqual(1);
    await writeFile(join(FIXTURES, `${name}.json`), `${JSON.stringify(ours.at(-1), null, 2)}\n`);
  }
});
