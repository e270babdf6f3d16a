// One reconcile with mirrored pull secrets, against a small fake API: each tenant's source Secret
// is judged on its own. A good one is mirrored and referenced; an Opaque or missing one is noted on
// its own workload, not mirrored and not referenced; one that cannot be read this time keeps its
// existing mirror (and reference) and fails the run for a retry, without holding up the others.
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { ownedLabels } from "../../src/core/daemonset.ts";
import { DEFAULT_TOLERATION_POLICY } from "../../src/core/placement-bounds.ts";
import { excludedNamespaces, type ObservedWorkload } from "../../src/core/tracked.ts";
import type { JsonObject } from "../../src/core/workload.ts";
import { OwnedObjectApplier } from "../../src/kube/apply.ts";
import { KubeApiError, type KubeRest } from "../../src/kube/rest.ts";
import { restSecretStore } from "../../src/kube/secrets.ts";
import { StatusWriter } from "../../src/kube/status-writer.ts";
import { createLogger } from "../../src/log.ts";
import { createReconcilerMetrics } from "../../src/reconcile/metrics.ts";
import { Reconciler, type ReconcileSources } from "../../src/reconcile/reconciler.ts";
import { DEFAULT_TIMINGS, type ReconcilerSettings } from "../../src/reconcile/settings.ts";

const RELEASE = "prepull";

const settings: ReconcilerSettings = {
  prepull: {
    namespace: RELEASE,
    sleeperImage: "ghcr.io/prepull/prepull:0.1.0",
    sleeperPath: "/usr/local/bin/prepull-sleep",
    maxUnavailable: "100%",
    maxImagesPerDaemonSet: 0,
    mirrorPullSecrets: true,
    resources: { cpu: "1m", memory: "8Mi" },
  },
  metricsImageNames: true,
  tolerationPolicy: DEFAULT_TOLERATION_POLICY,
  excludedNamespaces: [],
  clusterDefault: false,
  resyncSeconds: 300,
  debounceMs: 0,
  maxDelayMs: 0,
  statusMinIntervalSeconds: 0,
  leaderElection: {
    leaseName: DEFAULT_TIMINGS.leaseName,
    identity: "test",
    requestTimeoutSeconds: 5,
    leaseDurationSeconds: 15,
    renewPeriodSeconds: 5,
    renewDeadlineSeconds: 10,
    retryPeriodSeconds: 2,
  },
};

function workload(namespace: string, secret: string): ObservedWorkload {
  return {
    kind: "Deployment",
    object: {
      metadata: { name: "app", namespace, uid: `uid-${namespace}`, annotations: { prepull: "true" } },
      spec: {
        template: {
          spec: {
            containers: [{ name: "main", image: `registry.example.com/${namespace}/app:1` }],
            imagePullSecrets: [{ name: secret }],
          },
        },
      },
    },
  };
}

const dockerConfig = { ".dockerconfigjson": Buffer.from('{"auths":{}}').toString("base64") };

/** The API as far as this reconcile goes: Secrets to read, applies and status patches recorded. */
interface Applied {
  name: string;
  object: JsonObject;
}

function fakeApi(): { rest: KubeRest; applied: Applied[]; deleted: string[]; statuses: Map<string, string> } {
  const applied: Applied[] = [];
  const deleted: string[] = [];
  const statuses = new Map<string, string>();
  const sources: Record<string, JsonObject | undefined | Error> = {
    "good/regcred": { type: "kubernetes.io/dockerconfigjson", data: dockerConfig },
    "opaque/token": { type: "Opaque", data: { token: "c2VjcmV0" } },
    "missing/gone": undefined,
    "flaky/regcred": new KubeApiError(
      "GET",
      "/api/v1/namespaces/flaky/secrets/regcred",
      503,
      "",
      "unavailable",
    ),
  };
  let version = 0;
  const unused = () => Promise.reject(new Error("not used by this reconcile"));
  const rest: KubeRest = {
    request: async () => ({}),
    get: unused,
    getOptional: async (path) => {
      const match = /^\/api\/v1\/namespaces\/([^/]+)\/secrets\/([^/]+)$/.exec(path);
      const source = sources[`${match?.[1]}/${match?.[2]}`];
      if (source instanceof Error) throw source;
      return source;
    },
    apply: async (path, object) => {
      applied.push({ name: path.slice(path.lastIndexOf("/") + 1), object });
      version++;
      return { ...object, metadata: { uid: `u${version}`, generation: 1, resourceVersion: String(version) } };
    },
    mergePatch: async (path, patch) => {
      const annotations = (patch.metadata as { annotations: Record<string, string> }).annotations;
      statuses.set(path.split("/")[5] ?? "", annotations["prepull.dev/status"] ?? "");
      return {};
    },
    create: async () => ({}),
    replace: unused,
    delete: async (path) => {
      deleted.push(path.slice(path.lastIndexOf("/") + 1));
      return {};
    },
  };
  return { rest, applied, deleted, statuses };
}

describe("Reconciler with mirrored pull secrets", () => {
  it("judges each tenant's Secret on its own", async () => {
    const api = fakeApi();
    const logger = createLogger("silent");
    const labels = ownedLabels(settings.prepull);
    const flakyMirror = "prepull-pull-flaky-regcred-23b60ef7dc";
    const observed = [
      workload("good", "regcred"),
      workload("opaque", "token"),
      workload("missing", "gone"),
      workload("flaky", "regcred"),
    ];
    const sources: ReconcileSources = {
      listed: () => true,
      workloads: () => observed,
      daemonSets: () => [],
      pods: () => [],
      // The flaky tenant's mirror exists from an earlier run.
      secrets: () => [{ metadata: { name: flakyMirror, namespace: RELEASE, labels } }],
      trackingContext: () => ({
        excluded: excludedNamespaces(RELEASE, []),
        clusterDefault: false,
        namespaceLabels: () => ({}),
        namespaceAnnotations: () => ({}),
        runtimeClass: () => undefined,
        serviceAccountPullSecrets: () => undefined,
        tolerationPolicy: DEFAULT_TOLERATION_POLICY,
      }),
      namespace: () => ({ name: RELEASE, labels: {}, annotations: {} }),
    };
    const statusWriter = new StatusWriter({
      rest: api.rest,
      logger,
      identity: "test",
      minIntervalMs: 0,
    });
    const reconciler = new Reconciler({
      settings,
      sources,
      applier: new OwnedObjectApplier({
        rest: api.rest,
        namespace: RELEASE,
        ownedLabels: labels,
        logger,
        onWrite: () => {},
      }),
      statusWriter,
      secrets: restSecretStore(api.rest),
      isLeader: () => true,
      metrics: createReconcilerMetrics(new Registry(), { imageNames: true }),
      logger,
    });

    // The unreadable Secret fails the run, so it is retried; everything else was done.
    await expect(reconciler.run()).rejects.toThrow("reconcile failed");
    await statusWriter.stop();

    const mirrors = api.applied.filter((a) => a.object.kind === "Secret").map((a) => a.name);
    expect(mirrors).toEqual(["prepull-pull-good-regcred-6badbb51f8"]);
    // The flaky tenant's existing mirror is kept, not pruned.
    expect(api.deleted).toEqual([]);
    // One DaemonSet per tenant (each has pull secrets), each referencing only mirrors that exist.
    const references = Object.fromEntries(
      api.applied
        .filter((a) => a.object.kind === "DaemonSet")
        .map((a) => {
          const ds = a.object as {
            spec: {
              template: { spec: { containers: { image: string }[]; imagePullSecrets?: { name: string }[] } };
            };
          };
          const tenant = ds.spec.template.spec.containers[0]?.image.split("/")[1] ?? "";
          return [tenant, (ds.spec.template.spec.imagePullSecrets ?? []).map((x) => x.name)];
        }),
    );
    expect(references).toEqual({
      good: ["prepull-pull-good-regcred-6badbb51f8"],
      opaque: [],
      missing: [],
      flaky: [flakyMirror],
    });
    expect(api.statuses.get("good")).toBe("0/0 nodes ready");
    expect(api.statuses.get("opaque")).toBe(
      "0/0 nodes ready; pull secret token not mirrored: its type Opaque is not a registry credential",
    );
    expect(api.statuses.get("missing")).toBe(
      "0/0 nodes ready; pull secret gone not mirrored: it does not exist",
    );
    expect(api.statuses.get("flaky")).toBe("0/0 nodes ready");
  });
});
