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
import { deployment, GPU_TOLERATION, OPT_IN } from "./support/workloads.ts";

const FIXTURES = join(REPO_ROOT, "test", "fixtures", "admission-reviews");
const capturing = process.env.PREPULL_CAPTURE_FIXTURES === "1";

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
  const cases: [string, () => Promise<unknown>][] = [
    [
      "deployment-create",
      () =>
        apps.createNamespacedDeployment({
          namespace,
          body: deployment({ name: "web", optedIn: true, image: "nginx:1.27", replicas: 2 }),
        }),
    ],
    [
      "deployment-update",
      () =>
        apps.patchNamespacedDeployment({
          namespace,
          name: "web",
          body: [{ op: "replace", path: "/spec/template/spec/containers/0/image", value: "nginx:1.28" }],
        }),
    ],
    [
      "deployment-create-dry-run",
      () =>
        apps.createNamespacedDeployment({
          namespace,
          body: deployment({ name: "dry", optedIn: true, image: "nginx:1.27" }),
          dryRun: "All",
        }),
    ],
    [
      "deployment-create-gpu",
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
  for (const [name, action] of cases) {
    const before = capture.reviews.length;
    await action();
    // Exactly one review per action: matchConditions pass the opted-in ones, and nothing else runs here.
    expect(capture.reviews.length).toBe(before + 1);
    await writeFile(join(FIXTURES, `${name}.json`), `${JSON.stringify(capture.reviews[before], null, 2)}\n`);
  }
});
