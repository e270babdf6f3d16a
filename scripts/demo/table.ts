// The demo's live table, rendered as lines of text from a snapshot. Pure.
import type { Snapshot } from "./snapshot.ts";
import { DEMO_NAMESPACE, RELEASE_NAMESPACE } from "./workloads.ts";

function columns(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length);
  }
  return rows.map((row) => `  ${row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ")}`.trimEnd());
}

export interface TableContext {
  elapsedSeconds: number;
  status: string;
  /** Shown under the images table when there is nothing to show in it. */
  missingImagesNote: string;
}

export function renderTable(snapshot: Snapshot, context: TableContext): string[] {
  const lines = [`prepull demo  +${context.elapsedSeconds.toFixed(0)}s  ${context.status}`, ""];
  lines.push(
    `Images pre-pulled by prepull's DaemonSets (${snapshot.daemonSets} in namespace ${RELEASE_NAMESPACE})`,
  );
  if (snapshot.images.length === 0) {
    lines.push(`  ${context.missingImagesNote}`);
  } else {
    lines.push(
      ...columns([
        ["IMAGE", "NODES READY/ELIGIBLE"],
        ...snapshot.images.map((row) => [row.image, `${row.ready}/${row.eligible}`]),
      ]),
    );
  }
  lines.push("", `Workloads (namespace ${DEMO_NAMESPACE})`);
  lines.push(
    ...columns([
      ["DEPLOYMENT", "OPTED IN", "PODS READY", "prepull.dev/* ANNOTATIONS"],
      ...snapshot.workloads.map((w) => [
        w.name,
        w.optedIn ? "yes" : "no",
        `${w.readyReplicas}/${w.replicas}`,
        Object.entries(w.prepullAnnotations)
          .map(([key, value]) => `${key}=${value.length > 60 ? `${value.slice(0, 57)}...` : value}`)
          .join(" ") || "-",
      ]),
    ]),
  );
  lines.push("");
  if (snapshot.admission) {
    const { patched = 0, unchanged = 0, ignored = 0 } = snapshot.admission;
    lines.push(
      `prepull answered ${patched + unchanged + ignored} AdmissionReviews (patched ${patched}, unchanged ${unchanged}, ` +
        `ignored ${ignored}); reconcile queue depth ${snapshot.queueDepth ?? 0}`,
    );
  } else {
    lines.push("prepull's /metrics did not answer");
  }
  return lines;
}
