// What only the apiserver can decide, proved against the real one:
// - a restart (an applier with no memory of its earlier writes) finds the DaemonSets it wrote
//   already up to date and sends nothing: the manifest is written the way the apiserver stores it
//   (no readOnly: false, which it drops; canonical quantities, "0.1" is stored as "100m");
// - with the default settings, thousands of images are sharded into DaemonSets the apiserver
//   accepts, each far below etcd's 1.5 MiB request limit;
// - the initial LIST is paginated, and every page lands in the cache.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { waitFor } from "../../bench/reconcile-harness.ts";
import { loadConfig } from "../../src/config.ts";
import { ownedLabels } from "../../src/core/daemonset.ts";
import { desiredState, type TrackedWorkload } from "../../src/core/desired-state.ts";
import { placementOf } from "../../src/core/placement.ts";
import type { JsonObject } from "../../src/core/workload.ts";
import { OwnedObjectApplier } from "../../src/kube/apply.ts";
import { createKubeRest, type KubeRest } from "../../src/kube/rest.ts";
import { ResourceWatch } from "../../src/kube/watch.ts";
import { createLogger } from "../../src/log.ts";
import { reconcilerSettingsFrom } from "../../src/reconcile/settings.ts";
import { makeTempDir } from "../support/temp-dir.ts";
import { adminClients } from "./support/cluster.ts";
import { createNamespace, deleteNamespace, withNamespace } from "./support/namespace.ts";

let releaseNamespace: string;
const placeholder = join(makeTempDir("stored-form"), "unused.pem");
writeFileSync(placeholder, "");
const logger = createLogger("warn");

beforeAll(async () => {
  releaseNamespace = await createNamespace("prepull-stored");
});

afterAll(async () => {
  if (releaseNamespace) await deleteNamespace(releaseNamespace);
});

/** The settings a default install runs with (POD_NAMESPACE aside), through config.ts. */
function defaultPrepullSettings(namespace: string) {
  // config.ts only checks that the serving certificate files exist; this test serves nothing.
  const config = loadConfig({
    env: { POD_NAMESPACE: namespace, TLS_CERT_FILE: placeholder, TLS_KEY_FILE: placeholder },
    argv: [],
  });
  return reconcilerSettingsFrom(config, { hostname: "e2e", pid: 1 }).prepull;
}

/** The REST client, with every request counted by method. */
function countingRest(): { rest: KubeRest; requests: string[] } {
  const inner = createKubeRest(adminClients().kubeConfig, { requestTimeoutMs: 60_000 });
  const requests: string[] = [];
  const count =
    <A extends unknown[], R>(method: string, call: (path: string, ...rest: A) => Promise<R>) =>
    (path: string, ...rest: A) => {
      requests.push(`${method} ${path}`);
      return call(path, ...rest);
    };
  return {
    requests,
    rest: {
      request: (method, path, options) => {
        requests.push(`${method} ${path}`);
        return inner.request(method, path, options);
      },
      get: count("GET", inner.get),
      getOptional: count("GET", inner.getOptional),
      apply: count("APPLY", inner.apply),
      mergePatch: count("PATCH", inner.mergePatch),
      create: count("POST", inner.create),
      replace: count("PUT", inner.replace),
      delete: count("DELETE", inner.delete),
    },
  };
}

function applierOn(rest: KubeRest, namespace: string, writes: string[]): OwnedObjectApplier {
  return new OwnedObjectApplier({
    rest,
    namespace,
    ownedLabels: ownedLabels(defaultPrepullSettings(namespace)),
    logger,
    onWrite: (kind, op) => writes.push(`${kind} ${op}`),
  });
}

async function storedDaemonSets(namespace: string): Promise<JsonObject[]> {
  const rest = createKubeRest(adminClients().kubeConfig, { requestTimeoutMs: 60_000 });
  const list = await rest.get(`/apis/apps/v1/namespaces/${namespace}/daemonsets`);
  return Array.isArray(list.items) ? (list.items as JsonObject[]) : [];
}

describe("the manifest as the apiserver stores it", () => {
  test("a restarted applier finds its DaemonSets up to date and sends no request", async () => {
    const namespace = await withNamespace("stored");
    const settings = {
      ...defaultPrepullSettings(namespace),
      // Spelled differently from how the apiserver stores them: stored as 100m and 1Gi.
      resources: { cpu: "0.1", memory: "1024Mi" },
      podRequests: { cpu: "0.001", memory: "16Mi" },
      sleeperPullSecrets: ["sleeper-registry"],
    };
    const workload: TrackedWorkload = {
      key: { kind: "Deployment", namespace: "shop", name: "web" },
      images: ["docker.io/library/nginx:1.25", "docker.io/library/redis:7"],
      // Matches no node: the test is about the object, not its pods.
      placement: placementOf({
        nodeSelector: { "prepull.dev/e2e-stored": namespace },
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [
                {
                  matchExpressions: [
                    { key: "kubernetes.io/arch", operator: "In", values: ["amd64", "arm64"] },
                  ],
                },
              ],
            },
          },
        },
        tolerations: [
          { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" },
          { key: "dedicated", operator: "Equal", value: "ml", effect: "NoExecute", tolerationSeconds: 60 },
        ],
      }),
      pullSecrets: [],
    };
    const desired = desiredState({ workloads: [workload], settings }).daemonSets;
    expect(desired).toHaveLength(1);

    const before: string[] = [];
    await applierOn(createKubeRest(adminClients().kubeConfig), namespace, before).sync(
      "DaemonSet",
      desired,
      [],
      () => true,
    );
    expect(before).toEqual(["DaemonSet create"]);

    // A new process: no record of the write above, only what a watch would deliver.
    const live = await storedDaemonSets(namespace);
    expect(live).toHaveLength(1);
    const { rest, requests } = countingRest();
    const after: string[] = [];
    await applierOn(rest, namespace, after).sync("DaemonSet", desired, live, () => true);
    expect(requests).toEqual([]);
    expect(after).toEqual([]);
  });
});

describe("sharding by default", () => {
  test("3,000 images of one placement become DaemonSets the apiserver accepts, each far below 1.5 MiB", async () => {
    const namespace = await withNamespace("shards");
    const settings = defaultPrepullSettings(namespace);
    const images = Array.from(
      { length: 3_000 },
      (_, i) => `registry.example.com/team-${i % 40}/service-${String(i).padStart(4, "0")}:1.${i % 7}.0`,
    );
    const workloads: TrackedWorkload[] = [0, 1].map((part) => ({
      // One Deployment of 2,000 containers and one of 1,000.
      key: { kind: "Deployment", namespace: "big", name: `part-${part}` },
      images: part === 0 ? images.slice(0, 2_000) : images.slice(2_000),
      placement: placementOf({ nodeSelector: { "prepull.dev/e2e-shards": namespace } }),
      pullSecrets: [],
    }));
    const desired = desiredState({ workloads, settings }).daemonSets;
    const containerCounts = desired.map((ds) => ds.spec.template.spec.containers.length);
    expect(Math.max(...containerCounts)).toBeLessThanOrEqual(100);
    expect(containerCounts.reduce((a, b) => a + b, 0)).toBe(3_000);

    const writes: string[] = [];
    await applierOn(
      createKubeRest(adminClients().kubeConfig, { requestTimeoutMs: 60_000 }),
      namespace,
      writes,
    ).sync("DaemonSet", desired, [], () => true);
    expect(writes.filter((w) => w === "DaemonSet create")).toHaveLength(desired.length);

    const stored = await storedDaemonSets(namespace);
    expect(stored).toHaveLength(desired.length);
    // Stored JSON including managedFields (server-side apply records every field it owns).
    const largest = Math.max(...stored.map((ds) => Buffer.byteLength(JSON.stringify(ds))));
    expect(largest).toBeLessThan(512 * 1024);
    logger.warn(
      { daemonSets: stored.length, largestBytes: largest, maxContainers: Math.max(...containerCounts) },
      "sharded 3,000 images",
    );
  });
});

describe("the initial LIST", () => {
  test("is paginated and every page lands in the cache, projected", async () => {
    const namespace = await withNamespace("pages");
    const { core, kubeConfig } = adminClients();
    for (let i = 0; i < 5; i++) {
      await core.createNamespacedConfigMap({
        namespace,
        body: { metadata: { name: `cm-${i}`, labels: { page: "test" } }, data: { i: String(i) } },
      });
    }
    const { rest, requests } = countingRest();
    const watch = new ResourceWatch({
      kubeConfig,
      rest,
      logger,
      path: `/api/v1/namespaces/${namespace}/configmaps`,
      labelSelector: "page=test",
      pageSize: 2,
      transform: (object) => ({
        ...object,
        data: undefined,
        metadata: { ...object.metadata, managedFields: undefined },
      }),
      onEvent: () => {},
    });
    watch.start();
    try {
      await waitUntil(() => watch.listed());
      expect(requests).toEqual([
        `GET /api/v1/namespaces/${namespace}/configmaps`,
        `GET /api/v1/namespaces/${namespace}/configmaps`,
        `GET /api/v1/namespaces/${namespace}/configmaps`,
      ]);
      const cached = watch.list(namespace);
      expect(cached.map((o) => o.metadata?.name).sort()).toEqual(["cm-0", "cm-1", "cm-2", "cm-3", "cm-4"]);
      expect(cached.every((o) => o.data === undefined && o.metadata?.managedFields === undefined)).toBe(true);
      // A watch event is projected too.
      await core.createNamespacedConfigMap({
        namespace,
        body: { metadata: { name: "cm-5", labels: { page: "test" } }, data: { i: "5" } },
      });
      await waitUntil(() => watch.get("cm-5", namespace) !== undefined);
      expect(watch.get("cm-5", namespace)?.data).toBeUndefined();
    } finally {
      await watch.stop();
    }
  });
});

async function waitUntil(condition: () => boolean): Promise<void> {
  await waitFor("the watch cache", async () => (condition() ? true : undefined));
}
