// npm run demo            plane up (reused if running), prepull on loopback registered as the chart
//                         would register it, example workloads applied, a live table until settled
// npm run demo -- --down  stop prepull and the plane, remove their state
//
// Leaves the plane and prepull running so you can keep trying things; exits on its own once the
// table settles (or fails after --timeout seconds), so it also runs in scripts.
import { parseArgs } from "node:util";
import {
  AdmissionregistrationV1Api,
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from "@kubernetes/client-node";
import { downPlane, upPlane } from "./cluster/plane.ts";
import { progress } from "./cluster/progress.ts";
import { testImages } from "./cluster/real-node/images.ts";
import { showGatedNode } from "./demo/gated-node.ts";
import { ensureDemoPrepull } from "./demo/prepull-process.ts";
import { realNodeAct } from "./demo/real-node.ts";
import { ensureNamespace, metricsText, registerDemoWebhook } from "./demo/register.ts";
import { assess, workloadsSettled } from "./demo/settle.ts";
import { takeSnapshot } from "./demo/snapshot.ts";
import { renderTable } from "./demo/table.ts";
import { DEMO_NAMESPACE, EXAMPLES, exampleDeployment, RELEASE_NAMESPACE } from "./demo/workloads.ts";

const { values } = parseArgs({
  options: { down: { type: "boolean" }, timeout: { type: "string", default: "240" } },
});

async function main(): Promise<void> {
  const log = progress("demo");
  if (values.down) {
    await downPlane(log);
    log("prepull and the plane are stopped; state removed");
    return;
  }
  const timeoutSeconds = Number(values.timeout);
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0)
    throw new Error("--timeout must be a number of seconds");

  const plane = await upPlane({ log });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(plane.kubeconfig);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const apps = kubeConfig.makeApiClient(AppsV1Api);
  const admission = kubeConfig.makeApiClient(AdmissionregistrationV1Api);

  // The release namespace first: prepull's reconciler keeps its Lease and DaemonSets there.
  await ensureNamespace(core, RELEASE_NAMESPACE);
  await ensureNamespace(core, DEMO_NAMESPACE);
  const realNode = plane.state.realNode;
  // On the real node the pre-pull pods' init container needs a sleeper image it can pull: the
  // one in the plane's registry (simulated nodes pull nothing, so it changes nothing there).
  const prepull = await ensureDemoPrepull(
    plane.paths,
    log,
    realNode.enabled
      ? [
          `--prepull-sleeper-image=${testImages("", realNode.largeImageMib).sleeper.reference}`,
          "--prepull-sleeper-path=/usr/local/bin/prepull-sleep",
        ]
      : [],
  );
  await registerDemoWebhook({ core, apps, admission }, prepull, log);

  // Settling needs a reconcile that saw these applies, not only the state an earlier run left.
  const reconcileRunsBefore = (await takeSnapshot(core, apps, () => metricsText(prepull))).reconcileRuns ?? 0;
  for (const example of EXAMPLES) {
    // Server-side apply: creates on the first run, and on later runs still goes through admission.
    await apps.patchNamespacedDeployment(
      {
        namespace: DEMO_NAMESPACE,
        name: example.name,
        body: exampleDeployment(example),
        fieldManager: "prepull-demo",
        force: true,
      },
      setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply),
    );
    log(`applied deployment/${example.name}: ${example.what ?? ""}`);
  }

  await liveTable({
    core,
    apps,
    metrics: () => metricsText(prepull),
    timeoutSeconds,
    logFile: prepull.logFile,
    reconcileRunsBefore,
  });
  // Scale-out: a node joins with the startup taint; prepull releases it once its images are there.
  await showGatedNode(core, log, timeoutSeconds);
  const realNodeSummary = realNode.enabled
    ? await realNodeAct({
        paths: plane.paths,
        binDir: plane.state.binDir,
        node: realNode,
        core,
        apps,
        log,
        timeoutSeconds,
      })
    : `No real node in this plane (${realNode.reason}): the simulated nodes above are all there is.`;
  const kubectl = `${plane.state.binDir}/kubectl --kubeconfig ${plane.kubeconfig}`;
  console.log(
    [
      "",
      "Settled: every opted-in image is on every node its workload can run on (the GPU pool only for the " +
        "GPU workload), and each opted-in workload's prepull.dev/status says so. kwok's simulated kubelets " +
        "'pull' instantly; on real nodes the same table fills in as the pulls finish. The node that joined " +
        "last was held by its startup taint until its pre-pull pods ran.",
      "",
      realNodeSummary,
      "",
      "The plane and prepull are still running:",
      `  kubeconfig: ${plane.kubeconfig}`,
      `  ${kubectl} get deploy -A`,
      `  ${kubectl} get daemonsets -n ${RELEASE_NAMESPACE} -o wide`,
      `  ${kubectl} get lease -n ${RELEASE_NAMESPACE}`,
      `  prepull log: ${prepull.logFile}`,
      "  clean up:    npm run demo -- --down",
    ].join("\n"),
  );
}

interface LiveTableOptions {
  core: CoreV1Api;
  apps: AppsV1Api;
  metrics: () => Promise<string>;
  timeoutSeconds: number;
  /** prepull's log, named when something fails. */
  logFile: string;
  reconcileRunsBefore: number;
}

async function liveTable(options: LiveTableOptions): Promise<void> {
  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  const interactive = process.stdout.isTTY === true;
  let drawnLines = 0;
  let lastDrawn = "";
  let workloadsSettledAt: number | undefined;
  for (;;) {
    const snapshot = await takeSnapshot(options.core, options.apps, options.metrics);
    if (workloadsSettled(snapshot).length === 0) workloadsSettledAt ??= seconds();
    else workloadsSettledAt = undefined;
    const assessment = assess(snapshot, {
      secondsSinceWorkloadsSettled:
        workloadsSettledAt === undefined ? undefined : seconds() - workloadsSettledAt,
      reconcileRunsBefore: options.reconcileRunsBefore,
    });
    const timedOut = seconds() > options.timeoutSeconds;
    const giveUp = timedOut || assessment.failed !== undefined;
    const status = assessment.settled
      ? "settled"
      : `${giveUp ? "gave up" : "waiting"} for: ${assessment.waitingFor.slice(0, 3).join(", ")}`;
    const lines = renderTable(snapshot, {
      elapsedSeconds: seconds(),
      status,
      missingImagesNote:
        snapshot.daemonSets === 0
          ? "(none yet: prepull's reconciler creates them within moments of admission)"
          : "(no images)",
    });
    const text = lines.join("\n");
    if (interactive) {
      // Move to the first line of the previous drawing and clear below it: a table that refreshes in place.
      process.stdout.write(`${drawnLines > 0 ? `\x1b[${drawnLines}F\x1b[J` : ""}${text}\n`);
      drawnLines = terminalRows(lines, process.stdout.columns ?? 80);
    } else if (assessment.settled || giveUp || text.split("\n").slice(1).join("\n") !== lastDrawn) {
      // Not a terminal: print a new table only when its content (not just the clock) changed.
      process.stdout.write(`${text}\n\n`);
      lastDrawn = text.split("\n").slice(1).join("\n");
    }
    if (assessment.settled) return;
    if (assessment.failed !== undefined)
      throw new Error(`${assessment.failed}; see prepull's log ${options.logFile}`);
    if (timedOut)
      throw new Error(
        `not settled after ${options.timeoutSeconds}s; still waiting for ${assessment.waitingFor.join(", ")}; ` +
          `see prepull's log ${options.logFile}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/** Rows the lines take on screen: a line longer than the terminal wraps onto several. */
function terminalRows(lines: readonly string[], columns: number): number {
  return lines.reduce((rows, line) => rows + Math.max(1, Math.ceil(line.length / Math.max(columns, 1))), 0);
}

main().catch((error: unknown) => {
  console.error(`demo: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
