// PREPULL_UNINSTALL=on against the real control plane, timed as the chart's post-delete hook
// runs it: prepull (admission and reconciler, mirroring pull Secrets) has made its DaemonSet, its
// mirrored Secret, its Lease and its annotations; it is sent SIGTERM (Helm deleted its
// Deployment) and the uninstall starts at once. The uninstall takes the Lease, removes all of it,
// leaves the workload's own annotations and everything not prepull's alone, and exits 0.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { CoordinationV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, expect, test } from "vitest";
import { daemonSetWith, MANAGED_SELECTOR, waitFor } from "../../bench/reconcile-harness.ts";
import { REPO_ROOT } from "../../scripts/cluster/paths.ts";
import { adminClients, kubeconfigPath } from "./support/cluster.ts";
import { createNamespace, deleteNamespace, withNamespace } from "./support/namespace.ts";
import { E2E_LEASE_ENV, type RunningPrepull, startPrepull } from "./support/prepull.ts";
import { deployment, pullSecret } from "./support/workloads.ts";

let releaseNamespace: string;
let prepull: RunningPrepull | undefined;

beforeAll(async () => {
  releaseNamespace = await createNamespace("prepull-uninstall");
  prepull = await startPrepull({
    namespace: releaseNamespace,
    reconciler: true,
    env: { PREPULL_MIRROR_PULL_SECRETS: "true" },
  });
});

afterAll(async () => {
  await prepull?.stop();
  if (releaseNamespace) await deleteNamespace(releaseNamespace);
});

/** Runs `src/main.ts` in uninstall mode to its end; its exit code and log lines. */
function runUninstall(): Promise<{ code: number | null; lines: Record<string, unknown>[] }> {
  const child = spawn(process.execPath, [join(REPO_ROOT, "src", "main.ts")], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      ...E2E_LEASE_ENV,
      PREPULL_UNINSTALL: "on",
      POD_NAMESPACE: releaseNamespace,
      POD_NAME: "prepull-uninstall-hook",
      KUBECONFIG: kubeconfigPath(),
      LOG_LEVEL: "info",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  return new Promise((resolve) =>
    child.once("exit", (code) =>
      resolve({
        code,
        lines: output
          .split("\n")
          .filter((line) => line.startsWith("{"))
          .map((line) => JSON.parse(line) as Record<string, unknown>),
      }),
    ),
  );
}

test("the post-delete uninstall takes the Lease from the departing leader and leaves nothing of prepull's", async () => {
  const namespace = await withNamespace("uninstall-app");
  const { core, apps } = adminClients();
  await core.createNamespacedSecret({ namespace, body: pullSecret("regcred", "x") });
  const image = `registry.example.com/e2e/${namespace}/app:1`;
  const body = deployment({ name: "app", optedIn: true, image });
  body.metadata = {
    ...body.metadata,
    annotations: {
      ...body.metadata?.annotations,
      owner: "team-a",
      // As admission would have written it (no webhook is registered in this test).
      "prepull.dev/images": "sha256:0123456789abcdef",
    },
  };
  const podSpec = body.spec?.template.spec;
  if (podSpec) podSpec.imagePullSecrets = [{ name: "regcred" }];
  await apps.createNamespacedDeployment({ namespace, body });

  // What prepull made: the DaemonSet, the mirrored Secret, the status annotation, its Lease.
  await waitFor("the DaemonSet", () => daemonSetWith(apps, releaseNamespace, image));
  await waitFor("the mirrored Secret", async () => {
    const secrets = await core.listNamespacedSecret({
      namespace: releaseNamespace,
      labelSelector: MANAGED_SELECTOR,
    });
    return secrets.items.length === 1 ? true : undefined;
  });
  await waitFor("the status annotation", async () => {
    const live = await apps.readNamespacedDeployment({ namespace, name: "app" });
    return live.metadata?.annotations?.["prepull.dev/status"];
  });

  // Helm deleted the Deployment: its pod gets SIGTERM, and the post-delete hook starts at once.
  const departed = prepull?.stop();
  const result = await runUninstall();
  await departed;
  expect(result.code, JSON.stringify(result.lines.filter((l) => Number(l.level) >= 40))).toBe(0);
  const done = await waitFor("the uninstall's report", async () =>
    result.lines.find((line) => line.msg === "uninstall complete"),
  );
  expect(done).toMatchObject({ nodes: 0, leases: 1 });
  // Ours at least: this prepull watched the whole cluster, where other test files' workloads may
  // still be (their namespaces terminating), so it may have made more DaemonSets and annotations,
  // and the uninstall removes all of them. That nothing is left is checked below.
  for (const removed of ["daemonSets", "secrets", "workloads"])
    expect(done[removed], removed).toBeGreaterThanOrEqual(1);

  const daemonSets = await apps.listNamespacedDaemonSet({ namespace: releaseNamespace });
  expect(daemonSets.items.map((d) => d.metadata?.name)).toEqual([]);
  const secrets = await core.listNamespacedSecret({
    namespace: releaseNamespace,
    labelSelector: MANAGED_SELECTOR,
  });
  expect(secrets.items.map((s) => s.metadata?.name)).toEqual([]);
  const leases = await adminClients()
    .kubeConfig.makeApiClient(CoordinationV1Api)
    .listNamespacedLease({ namespace: releaseNamespace });
  expect(leases.items.map((l) => l.metadata?.name)).toEqual([]);
  // The workload keeps what is its own: its opt-in, its other annotations, its Secret.
  const live = await apps.readNamespacedDeployment({ namespace, name: "app" });
  expect(live.metadata?.annotations).toEqual({
    prepull: "true",
    owner: "team-a",
    // The Deployment controller's own.
    "deployment.kubernetes.io/revision": "1",
  });
  expect((await core.readNamespacedSecret({ namespace, name: "regcred" })).type).toBe(
    "kubernetes.io/dockerconfigjson",
  );
});
