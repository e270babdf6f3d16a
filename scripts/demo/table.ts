// The demo's live table, rendered as lines of text from a snapshot. Pure.
import { POOL_NAMES } from "../cluster/node-pools.ts";
import type { ImageRow, Snapshot } from "./snapshot.ts";
import { DEMO_NAMESPACE, RELEASE_NAMESPACE } from "./workloads.ts";

function columns(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length);
  }
  return rows.map((row) => `  ${row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ")}`.trimEnd());
}

/** The plane's pools in their usual order, then any other pool a pod was found on. */
function poolColumns(rows: readonly ImageRow[]): string[] {
  const seen = new Set(rows.flatMap((row) => Object.keys(row.pools)));
  return [
    ...POOL_NAMES,
    ...[...seen].filter((pool) => !(POOL_NAMES as readonly string[]).includes(pool)).sort(),
  ];
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
    `Images pre-pulled by prepull's DaemonSets (${snapshot.daemonSets} in namespace ${RELEASE_NAMESPACE}):`,
    "nodes that have the image / nodes its workloads can run on, per node pool (-: none there)",
  );
  if (snapshot.images.length === 0) {
    lines.push(`  ${context.missingImagesNote}`);
  } else {
    const pools = poolColumns(snapshot.images);
    lines.push(
      ...columns([
        ["IMAGE", ...pools.map((pool) => `${pool.toUpperCase()} POOL`), "ALL NODES"],
        ...snapshot.images.map((row) => [
          row.image,
          ...pools.map((pool) => {
            const count = row.pools[pool];
            return count === undefined ? "-" : `${count.ready}/${count.eligible}`;
          }),
          `${row.ready}/${row.eligible}`,
        ]),
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
