import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { validateLeaderElectionTimings } from "../../src/kube/leader.ts";
import { nodeGateSettingsFrom } from "../../src/reconcile/node-gate-settings.ts";
import { DEFAULT_TIMINGS, reconcilerSettingsFrom } from "../../src/reconcile/settings.ts";
import { makeTempDir } from "../support/temp-dir.ts";

let tlsEnv: Record<string, string>;

beforeAll(() => {
  const directory = makeTempDir("settings");
  tlsEnv = { TLS_CERT_FILE: join(directory, "tls.crt"), TLS_KEY_FILE: join(directory, "tls.key") };
  for (const file of Object.values(tlsEnv)) writeFileSync(file, "pem");
});

const here = { hostname: "build-host", pid: 4242 };

function settingsFor(env: Record<string, string>) {
  return reconcilerSettingsFrom(loadConfig({ env: { ...tlsEnv, ...env }, argv: [] }), here);
}

describe("reconcilerSettingsFrom", () => {
  it("maps the defaults", () => {
    expect(settingsFor({})).toEqual({
      prepull: {
        namespace: "prepull",
        sleeperImage: "ghcr.io/prepull/prepull:0.1.0",
        sleeperPath: "/usr/local/bin/prepull-sleep",
        maxUnavailable: "100%",
        maxImagesPerDaemonSet: 100,
        mirrorPullSecrets: false,
        resources: { cpu: "100m", memory: "32Mi" },
        podRequests: { cpu: "1m", memory: "16Mi" },
      },
      metricsImageNames: false,
      tolerationPolicy: {
        tolerated: ["*"],
        neverTolerated: ["node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"],
      },
      excludedNamespaces: [],
      clusterDefault: false,
      resyncSeconds: 300,
      debounceMs: DEFAULT_TIMINGS.debounceMs,
      maxDelayMs: DEFAULT_TIMINGS.maxDelayMs,
      statusMinIntervalSeconds: DEFAULT_TIMINGS.statusMinIntervalSeconds,
      leaderElection: {
        leaseName: "prepull-reconciler",
        identity: "build-host_4242",
        leaseDurationSeconds: 15,
        renewPeriodSeconds: 5,
        renewDeadlineSeconds: 10,
        retryPeriodSeconds: 2,
        requestTimeoutSeconds: 5,
      },
    });
  });

  it("maps every setting the chart passes", () => {
    const settings = settingsFor({
      POD_NAMESPACE: "infra",
      POD_NAME: "prepull-6f7c9-x2x4q",
      PREPULL_MAX_IMAGES_PER_DAEMONSET: "4",
      PREPULL_MAX_UNAVAILABLE: "5",
      PREPULL_MIRROR_PULL_SECRETS: "true",
      PREPULL_EXCLUDED_NAMESPACES: "ci,sandbox",
      PREPULL_RESYNC_SECONDS: "120",
      PREPULL_PRIORITY_CLASS_NAME: "prepull-daemonset",
      PREPULL_SLEEPER_IMAGE: "registry.internal/prepull:0.1.0",
      PREPULL_SLEEPER_PULL_SECRETS: "internal-registry",
      PREPULL_CONTAINER_CPU: "5m",
      PREPULL_CONTAINER_MEMORY: "16Mi",
    });
    expect(settings.prepull).toEqual({
      namespace: "infra",
      sleeperImage: "registry.internal/prepull:0.1.0",
      sleeperPath: "/usr/local/bin/prepull-sleep",
      sleeperPullSecrets: ["internal-registry"],
      priorityClassName: "prepull-daemonset",
      maxUnavailable: "5",
      maxImagesPerDaemonSet: 4,
      mirrorPullSecrets: true,
      resources: { cpu: "5m", memory: "16Mi" },
      podRequests: { cpu: "1m", memory: "16Mi" },
    });
    expect(settings.excludedNamespaces).toEqual(["ci", "sandbox"]);
    expect(settings.resyncSeconds).toBe(120);
    expect(settings.leaderElection.identity).toBe("prepull-6f7c9-x2x4q_4242");
  });

  it.each([
    // [duration, renew] → deadline strictly between renew and duration; retry never above renew;
    // request timeout within duration − deadline, at most 5 s
    [15, 5, 10, 2, 5],
    [6, 2, 4, 2, 2],
    [3, 1, 2, 1, 1],
    [2, 1, 1.5, 1, 0.5],
    [120, 30, 75, 2, 5],
  ])(
    "lease %is renewed every %is: renew deadline %ss, retry %ss, request timeout %ss",
    (duration, renew, deadline, retry, timeout) => {
      const { leaderElection } = settingsFor({
        PREPULL_LEASE_DURATION_SECONDS: String(duration),
        PREPULL_LEASE_RENEW_SECONDS: String(renew),
      });
      expect(leaderElection).toMatchObject({
        leaseDurationSeconds: duration,
        renewPeriodSeconds: renew,
        renewDeadlineSeconds: deadline,
        retryPeriodSeconds: retry,
        requestTimeoutSeconds: timeout,
      });
      // The elector accepts what the settings derive (it throws on timings that could make two leaders).
      expect(() =>
        validateLeaderElectionTimings({
          ...leaderElection,
          namespace: "prepull",
          name: leaderElection.leaseName,
        }),
      ).not.toThrow();
      expect(leaderElection.renewDeadlineSeconds).toBeGreaterThan(renew);
      expect(leaderElection.renewDeadlineSeconds).toBeLessThan(duration);
    },
  );

  it("makes the pre-pull pods tolerate the gating taint only when the node gate is on", () => {
    expect(settingsFor({}).prepull.extraTolerations).toBeUndefined();
    expect(settingsFor({ PREPULL_NODE_GATE: "on" }).prepull.extraTolerations).toEqual([
      { key: "prepull.dev/not-ready", operator: "Exists", value: "", effect: "NoSchedule" },
    ]);
    expect(
      settingsFor({
        PREPULL_NODE_GATE: "on",
        PREPULL_NODE_GATE_TAINT: "ignore-taint.cluster-autoscaler.kubernetes.io/prepull",
        PREPULL_NODE_GATE_TAINT_EFFECT: "NoExecute",
      }).prepull.extraTolerations,
    ).toEqual([
      {
        key: "ignore-taint.cluster-autoscaler.kubernetes.io/prepull",
        operator: "Exists",
        value: "",
        effect: "NoExecute",
      },
    ]);
  });

  it("gives the node gate its taint, deadline, namespace and a Lease of its own with the same timings", () => {
    const config = loadConfig({
      env: {
        ...tlsEnv,
        POD_NAMESPACE: "infra",
        PREPULL_NODE_GATE: "on",
        PREPULL_NODE_GATE_TAINT: "ignore-taint.cluster-autoscaler.kubernetes.io/prepull",
        PREPULL_NODE_GATE_DEADLINE_SECONDS: "300",
      },
      argv: [],
    });
    const reconciler = reconcilerSettingsFrom(config, here);
    expect(nodeGateSettingsFrom(config, reconciler, { "app.kubernetes.io/managed-by": "prepull" })).toEqual({
      gate: {
        taintKey: "ignore-taint.cluster-autoscaler.kubernetes.io/prepull",
        taintEffect: "NoSchedule",
        deadlineMs: 300_000,
      },
      namespace: "infra",
      ownedLabels: { "app.kubernetes.io/managed-by": "prepull" },
      leaderElection: {
        leaseName: "prepull-node-gate",
        identity: "build-host_4242",
        leaseDurationSeconds: 15,
        renewPeriodSeconds: 5,
        renewDeadlineSeconds: 10,
        retryPeriodSeconds: 2,
        requestTimeoutSeconds: 5,
      },
    });
  });

  it("does not share arrays with the configuration", () => {
    const config = loadConfig({ env: { ...tlsEnv, PREPULL_EXCLUDED_NAMESPACES: "ci" }, argv: [] });
    const settings = reconcilerSettingsFrom(config, here);
    expect(settings.excludedNamespaces).not.toBe(config.excludedNamespaces);
  });
});
