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
import { ensureDemoPrepull } from "./demo/prepull-process.ts";
import { metricsText, registerDemoWebhook } from "./demo/register.ts";
import { assess, NO_DAEMONSETS_GRACE_SECONDS, workloadsSettled } from "./demo/settle.ts";
import { takeSnapshot } from "./demo/snapshot.ts";
import { renderTable } from "./demo/table.ts";
import { DEMO_NAMESPACE, EXAMPLES, exampleDeployment } from "./demo/workloads.ts";

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

  const prepull = await ensureDemoPrepull(plane.paths, log);
  await registerDemoWebhook({ core, apps, admission }, prepull, log);

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

  const outcome = await liveTable({ core, apps, metrics: () => metricsText(prepull), timeoutSeconds, log });
  const kubectl = `${plane.state.binDir}/kubectl --kubeconfig ${plane.kubeconfig}`;
  console.log(
    [
      "",
      outcome.withoutDaemonSets
        ? "Not there yet: no pre-pull DaemonSets appeared, so the per-image table is empty. The admission side " +
          "works (calls and annotations above); the reconciler that turns annotated workloads into DaemonSets " +
          "is not running in this build."
        : "Settled: every opted-in image is on every node its workload can run on.",
      "",
      "The plane and prepull are still running:",
      `  kubeconfig: ${plane.kubeconfig}`,
      `  ${kubectl} get deploy -A`,
      `  ${kubectl} get daemonsets -n prepull -o wide`,
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
  log: ReturnType<typeof progress>;
}

async function liveTable(options: LiveTableOptions): Promise<{ withoutDaemonSets: boolean }> {
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
    const assessment = assess(
      snapshot,
      workloadsSettledAt === undefined ? undefined : seconds() - workloadsSettledAt,
    );
    const timedOut = seconds() > options.timeoutSeconds;
    const status = assessment.settled
      ? "settled"
      : `${timedOut ? "gave up" : "waiting"} for: ${assessment.waitingFor.slice(0, 3).join(", ")}`;
    const lines = renderTable(snapshot, {
      elapsedSeconds: seconds(),
      status,
      missingImagesNote:
        snapshot.daemonSets === 0
          ? `(none yet: prepull's reconciler creates them; without it, the demo settles ` +
            `${NO_DAEMONSETS_GRACE_SECONDS}s after the workloads)`
          : "(no images)",
    });
    const text = lines.join("\n");
    if (interactive) {
      // Move to the first line of the previous drawing and clear below it: a table that refreshes in place.
      process.stdout.write(`${drawnLines > 0 ? `\x1b[${drawnLines}F\x1b[J` : ""}${text}\n`);
      drawnLines = terminalRows(lines, process.stdout.columns ?? 80);
    } else if (assessment.settled || timedOut || text.split("\n").slice(1).join("\n") !== lastDrawn) {
      // Not a terminal: print a new table only when its content (not just the clock) changed.
      process.stdout.write(`${text}\n\n`);
      lastDrawn = text.split("\n").slice(1).join("\n");
    }
    if (assessment.settled) return { withoutDaemonSets: assessment.withoutDaemonSets };
    if (timedOut)
      throw new Error(
        `not settled after ${options.timeoutSeconds}s; still waiting for ${assessment.waitingFor.join(", ")}`,
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
