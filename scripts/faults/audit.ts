// The apiserver's audit log (audit.k8s.io/v1 events, one JSON object per line), read back to judge
// what prepull replicas did from the server's side: who wrote what, when, and who held the Lease at
// that moment. Only requests of the plane's audited group are logged (scripts/cluster/components.ts).
import { readFile } from "node:fs/promises";

export interface AuditEvent {
  user: string;
  verb: string;
  /** e.g. "apps/daemonsets", "coordination.k8s.io/leases", "/secrets" for the core group */
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  code: number;
  /** epoch milliseconds (microsecond precision kept as a fraction) */
  receivedMs: number;
  completedMs: number;
  /** For Lease writes: spec.holderIdentity of the object sent. */
  holder?: string;
}

export const WRITE_VERBS: ReadonlySet<string> = new Set([
  "create",
  "update",
  "patch",
  "delete",
  "deletecollection",
]);

interface RawEvent {
  stage?: string;
  verb?: string;
  user?: { username?: string };
  objectRef?: {
    resource?: string;
    apiGroup?: string;
    subresource?: string;
    namespace?: string;
    name?: string;
  };
  responseStatus?: { code?: number };
  requestReceivedTimestamp?: string;
  stageTimestamp?: string;
  requestObject?: { spec?: { holderIdentity?: string } };
}

/** RFC 3339 with microseconds → epoch ms with the microseconds as a fraction. */
function microsOf(timestamp: string | undefined): number {
  if (timestamp === undefined) return Number.NaN;
  const match = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(timestamp);
  if (match === null) return Number.NaN;
  const fraction = (match[2] ?? "").padEnd(6, "0").slice(0, 6);
  return Date.parse(`${match[1]}Z`) + Number(fraction) / 1000;
}

/** Every completed request in the log, in the order written. */
export async function readAuditLog(path: string): Promise<AuditEvent[]> {
  const text = await readFile(path, "utf8").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT")
      throw new Error(`no audit log at ${path}: this plane predates auditing; run npm run cluster:down`);
    throw error;
  });
  const events: AuditEvent[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const raw = JSON.parse(line) as RawEvent;
    if (raw.stage !== "ResponseComplete") continue;
    const ref = raw.objectRef ?? {};
    const event: AuditEvent = {
      user: raw.user?.username ?? "",
      verb: raw.verb ?? "",
      resource: `${ref.apiGroup ?? ""}/${ref.resource ?? ""}`,
      code: raw.responseStatus?.code ?? 0,
      receivedMs: microsOf(raw.requestReceivedTimestamp),
      completedMs: microsOf(raw.stageTimestamp),
    };
    if (ref.subresource !== undefined) event.subresource = ref.subresource;
    if (ref.namespace !== undefined) event.namespace = ref.namespace;
    if (ref.name !== undefined) event.name = ref.name;
    const holder = raw.requestObject?.spec?.holderIdentity;
    if (typeof holder === "string") event.holder = holder;
    events.push(event);
  }
  return events;
}

export interface LeaseRef {
  namespace: string;
  name: string;
}

const isSuccess = (event: AuditEvent) => event.code >= 200 && event.code < 300;
const isLease = (event: AuditEvent, lease: LeaseRef) =>
  event.resource === "coordination.k8s.io/leases" &&
  event.namespace === lease.namespace &&
  event.name === lease.name;

export interface HolderChange {
  atMs: number;
  holder: string;
}

/** Who held the Lease from when: each successful write of it that changed the holder. */
export function holderChanges(events: readonly AuditEvent[], lease: LeaseRef): HolderChange[] {
  const writes = events
    .filter((e) => isLease(e, lease) && WRITE_VERBS.has(e.verb) && isSuccess(e))
    .sort((a, b) => a.completedMs - b.completedMs);
  const changes: HolderChange[] = [];
  for (const write of writes) {
    const holder = write.verb === "delete" ? "" : (write.holder ?? "");
    if (changes.at(-1)?.holder !== holder) changes.push({ atMs: write.completedMs, holder });
  }
  return changes;
}

export interface ForeignWrite {
  event: AuditEvent;
  /** The Lease holder when the apiserver received the write ("" = nobody). */
  holder: string;
}

/**
 * Writes by the `writers` (other than of the Lease itself) that the apiserver received while
 * someone else held the Lease: with one writer at a time there are none.
 */
export function writesWithoutLease(
  events: readonly AuditEvent[],
  lease: LeaseRef,
  writers: ReadonlySet<string>,
  /** Whether a Lease holder identity is this user (prepull's server holds as `<pod name>_<pid>`). */
  holds: (holder: string, user: string) => boolean = (holder, user) => holder === user,
): ForeignWrite[] {
  const changes = holderChanges(events, lease);
  const holderAt = (ms: number) => {
    let holder = "";
    for (const change of changes) {
      if (change.atMs > ms) break;
      holder = change.holder;
    }
    return holder;
  };
  return events
    .filter((e) => writers.has(e.user) && WRITE_VERBS.has(e.verb) && !isLease(e, lease))
    .map((event) => ({ event, holder: holderAt(event.receivedMs) }))
    .filter(({ event, holder }) => !holds(holder, event.user));
}

/** Non-Lease writes by each of `writers`, counted. */
export function writesBy(events: readonly AuditEvent[], lease: LeaseRef, writers: readonly string[]) {
  const counts = Object.fromEntries(writers.map((w) => [w, 0])) as Record<string, number>;
  for (const e of events) {
    if (e.user in counts && WRITE_VERBS.has(e.verb) && !isLease(e, lease))
      counts[e.user] = (counts[e.user] ?? 0) + 1;
  }
  return counts;
}
