// Status back onto the workloads: the `prepull.dev/status` annotation (a JSON merge patch, only
// when the text changed) and Warning Events for pull failures (only when the set of failing
// images or their reasons changed). Only the leader calls this.
//
// The annotation patch is an UPDATE that passes through prepull's own webhook again. That is
// idempotent: the admission patch depends on the pod template's images, which this patch does not
// touch, and the watch filter ignores annotation-only changes, so no reconcile loop follows.
//
// Publishing is decoupled from the reconcile run: publish() hands over the latest report and
// returns; one writer loop drains it, always writing the newest report only. So hundreds of status
// patches never hold up the next reconcile's DaemonSet writes. What publish() returns settles when
// the loop is done, with when the writer wants another reconcile (the reconcile's background
// result, see reconcile/trigger.ts).
//
// Rate limit: during a rollout on many nodes the ready count changes every second; each workload's
// annotation is written at most once per minInterval, and a suppressed change is written by a
// later reconcile, which the publication's result asks for.
import { randomBytes } from "node:crypto";
import { workloadId } from "../core/desired-state.ts";
import type { WorkloadStatus } from "../core/status.ts";
import type { JsonObject, WorkloadKey } from "../core/workload.ts";
import { annotationsOf, isJsonObject, WORKLOAD_KINDS } from "../core/workload.ts";
import type { Logger } from "../log.ts";
import { collectionPath, objectPath } from "./paths.ts";
import { KubeApiError, type KubeRest } from "./rest.ts";
import { NotLeaderError } from "./write-fence.ts";

export const STATUS_ANNOTATION = "prepull.dev/status";
export const PULL_FAILED_REASON = "PrepullImagePullFailed";
/** Warning Event for what prepull narrowed or refused on a workload's behalf (status notes). */
const RESTRICTED_REASON = "PrepullRestricted";
/** The pre-pull pod's init container (the sleeper's installer) fails: nothing on that node is pulled. */
export const SLEEPER_FAILED_REASON = "PrepullPodFailed";
/**
 * Status patches in flight at once: with hundreds of workloads a serial loop would hold up the
 * next reconcile (and its DaemonSet writes) for seconds; the API server's own fairness limits do
 * the rest.
 */
const WRITE_CONCURRENCY = 8;
/** Kubernetes caps an Event message at 1 KiB in events.k8s.io; keep core/v1 Events within it too. */
const EVENT_MESSAGE_MAX = 1024;

export interface StatusWriterOptions {
  rest: KubeRest;
  logger: Logger;
  /** Reported as the Event source's host, so an operator can tell which replica wrote it. */
  identity: string;
  minIntervalMs: number;
  onStatusWrite?: () => void;
  onEvent?: (reason: string) => void;
  now?: () => number;
}

export interface StatusSnapshot {
  statuses: readonly WorkloadStatus[];
  /** Workload id → the watched object. */
  live: ReadonlyMap<string, JsonObject>;
  /** Workloads no longer tracked, whose stale annotation is removed. */
  untracked: readonly { key: WorkloadKey; object: JsonObject }[];
}

/** When the writer wants another reconcile: this long from now; never when unset. */
export interface PublicationResult {
  requeueAfterMs?: number;
}

/** After a failed publication, the next attempt waits this long (unless a reconcile comes first)... */
const RETRY_MS = 5_000;
/** ...doubling while publications keep failing, up to this. */
const RETRY_MAX_MS = 300_000;

export class StatusWriter {
  readonly #options: StatusWriterOptions;
  readonly #now: () => number;
  readonly #lastWrite = new Map<string, number>();
  /** workload id → "image\0reason" of the failures already reported by an Event. */
  readonly #reported = new Map<string, Set<string>>();
  /** workload id → the notes already reported by an Event. */
  readonly #reportedNotes = new Map<string, Set<string>>();

  #pending: { snapshot: StatusSnapshot; canWrite: () => boolean } | undefined;
  #failedPublications = 0;
  #draining: Promise<PublicationResult> | undefined;

  constructor(options: StatusWriterOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
  }

  /**
   * Hands over the latest status; written in the background, superseding any not yet written.
   * Settles (never rejects) when everything handed over is written or has failed, with when to
   * reconcile again: for a rate-limited change, or to retry a failed publication.
   */
  publish(snapshot: StatusSnapshot, canWrite: () => boolean): Promise<PublicationResult> {
    this.#pending = { snapshot, canWrite };
    this.#draining ??= this.#drain().finally(() => {
      this.#draining = undefined;
    });
    return this.#draining;
  }

  /** Drops what is not yet written and waits for the write in progress. */
  async stop(): Promise<void> {
    this.#pending = undefined;
    await this.#draining;
  }

  /** The result is the last publication's: a newer one supersedes what an older one wanted. */
  async #drain(): Promise<PublicationResult> {
    let result: PublicationResult = {};
    for (let next = this.#pending; next !== undefined; next = this.#pending) {
      this.#pending = undefined;
      const { snapshot, canWrite } = next;
      // Both halves always run: a status patch that is refused (an admission policy, a quota)
      // must not keep stale annotations of other workloads from being cleared.
      const written = await this.#write(snapshot.statuses, snapshot.live, canWrite);
      const cleared = await this.#clear(snapshot.untracked, canWrite);
      const failedSteps = (written.failures.length > 0 ? 1 : 0) + (cleared.length > 0 ? 1 : 0);
      result = written.waitMs === undefined ? {} : { requeueAfterMs: written.waitMs };
      if (failedSteps === 0) {
        this.#failedPublications = 0;
        continue;
      }
      // Each failed write was logged where it failed; retry later, backing off while it keeps
      // failing (a refusal that does not pass would otherwise trigger a reconcile every 5 s).
      this.#failedPublications++;
      const retryInMs = Math.min(RETRY_MAX_MS, RETRY_MS * 2 ** (this.#failedPublications - 1));
      // Counts only: each write's error was logged where it failed, and with ten thousand
      // workloads an aggregate of every error (stacks included) is megabytes per line.
      this.#options.logger.warn(
        { failedSteps, retryInMs, consecutiveFailures: this.#failedPublications },
        "status publication incomplete",
      );
      result = { requeueAfterMs: Math.min(retryInMs, written.waitMs ?? Number.POSITIVE_INFINITY) };
    }
    return result;
  }

  /**
   * `live` maps workload ids to the watched objects. Returns the ms until a rate-limited change
   * may be written (undefined when none waits). Throws one error listing every failed write after
   * attempting all (a workload deleted meanwhile is not a failure).
   */
  async write(
    statuses: readonly WorkloadStatus[],
    live: ReadonlyMap<string, JsonObject>,
    canWrite: () => boolean,
  ): Promise<number | undefined> {
    const { waitMs, failures } = await this.#write(statuses, live, canWrite);
    if (failures.length > 0) throw new AggregateError(failures, `${failures.length} status write(s) failed`);
    return waitMs;
  }

  async #write(
    statuses: readonly WorkloadStatus[],
    live: ReadonlyMap<string, JsonObject>,
    canWrite: () => boolean,
  ): Promise<{ waitMs: number | undefined; failures: unknown[] }> {
    const failures: unknown[] = [];
    let soonest = Number.POSITIVE_INFINITY;
    const seen = new Set<string>(statuses.map((status) => status.id));
    await forEachConcurrently(statuses, WRITE_CONCURRENCY, async (status) => {
      const object = live.get(status.id);
      if (object === undefined || !canWrite()) return;
      try {
        const wait = await this.#annotate(status, object);
        // 0 means nothing left to do for this workload; it must not cancel another's later write.
        if (wait > 0) soonest = Math.min(soonest, wait);
        await this.#reportFailures(status, object);
        await this.#reportNotes(status, object);
      } catch (error) {
        // Not sent: leadership ended on its way out; the next leader writes it.
        if (isGone(error) || error instanceof NotLeaderError) return;
        failures.push(error);
        this.#options.logger.error({ reason: messageOf(error), workload: status.id }, "status write failed");
      }
    });
    for (const id of this.#reported.keys()) if (!seen.has(id)) this.#reported.delete(id);
    for (const id of this.#reportedNotes.keys()) if (!seen.has(id)) this.#reportedNotes.delete(id);
    for (const id of this.#lastWrite.keys()) if (!seen.has(id)) this.#lastWrite.delete(id);
    return { waitMs: Number.isFinite(soonest) ? soonest : undefined, failures };
  }

  /** Removes the annotation from workloads prepull no longer tracks; the failed clean-ups, each logged. */
  async #clear(
    untracked: readonly { key: WorkloadKey; object: JsonObject }[],
    canWrite: () => boolean,
  ): Promise<unknown[]> {
    const failures: unknown[] = [];
    for (const { key, object } of untracked) {
      if (annotationOf(object) === undefined || !canWrite()) continue;
      try {
        await this.#options.rest.mergePatch(objectPath(key.kind, key.namespace, key.name), {
          metadata: { annotations: { [STATUS_ANNOTATION]: null } },
        });
      } catch (error) {
        if ((error instanceof KubeApiError && error.status === 404) || error instanceof NotLeaderError)
          continue;
        // One refused clean-up does not stop the others.
        failures.push(error);
        this.#options.logger.error(
          { reason: messageOf(error), workload: workloadId(key) },
          "status clean-up failed",
        );
      }
    }
    return failures;
  }

  /** Writes the annotation if it changed and the interval allows; else the ms to wait (0: nothing to do). */
  async #annotate(status: WorkloadStatus, object: JsonObject): Promise<number> {
    if (annotationOf(object) === status.summary) return 0;
    const last = this.#lastWrite.get(status.id);
    const now = this.#now();
    if (last !== undefined && now - last < this.#options.minIntervalMs) {
      return this.#options.minIntervalMs - (now - last);
    }
    const { kind, namespace, name } = status.workload;
    await this.#options.rest.mergePatch(objectPath(kind, namespace, name), {
      metadata: { annotations: { [STATUS_ANNOTATION]: status.summary } },
    });
    this.#lastWrite.set(status.id, now);
    this.#options.onStatusWrite?.();
    return 0;
  }

  async #reportFailures(status: WorkloadStatus, object: JsonObject): Promise<void> {
    const reported = this.#reported.get(status.id) ?? new Set<string>();
    const current = new Set<string>();
    for (const image of status.images) {
      for (const failure of image.failing) {
        const signature = `${image.image}\u0000${failure.reason}`;
        current.add(signature);
        if (reported.has(signature)) continue;
        const message = `Pre-pulling ${image.image} failed on ${failure.nodes} of ${image.eligible} nodes: ${failure.reason}${failure.message === "" ? "" : `: ${failure.message}`}`;
        await this.#event(status.workload, object, PULL_FAILED_REASON, message);
        // Recorded at once: if a later Event of this pass fails, the retry must not repeat this one.
        reported.add(signature);
        this.#reported.set(status.id, reported);
      }
    }
    for (const failure of status.sleeperFailing) {
      const signature = `\u0000sleeper\u0000${failure.reason}`;
      current.add(signature);
      if (reported.has(signature)) continue;
      const message = `The pre-pull pod cannot start on ${failure.nodes} of ${status.eligibleNodes} nodes, so nothing is pulled there: ${failure.reason}${failure.message === "" ? "" : `: ${failure.message}`}`;
      await this.#event(status.workload, object, SLEEPER_FAILED_REASON, message);
      reported.add(signature);
      this.#reported.set(status.id, reported);
    }
    // Forget what recovered, so a new failure of the same image is reported again.
    this.#reported.set(status.id, current);
  }

  /** One Event per new note; a note that went away and comes back is reported again. */
  async #reportNotes(status: WorkloadStatus, object: JsonObject): Promise<void> {
    const reported = this.#reportedNotes.get(status.id) ?? new Set<string>();
    const current = new Set(status.notes ?? []);
    for (const note of current) {
      if (reported.has(note)) continue;
      await this.#event(status.workload, object, RESTRICTED_REASON, `prepull: ${note}`);
      reported.add(note);
      this.#reportedNotes.set(status.id, reported);
    }
    this.#reportedNotes.set(status.id, current);
  }

  async #event(key: WorkloadKey, object: JsonObject, reason: string, message: string): Promise<void> {
    const metadata = isJsonObject(object.metadata) ? object.metadata : {};
    const apiVersion = typeof object.apiVersion === "string" ? object.apiVersion : apiVersionOf(key.kind);
    const timestamp = new Date().toISOString();
    await this.#options.rest.create(collectionPath("Event", key.namespace), {
      apiVersion: "v1",
      kind: "Event",
      metadata: {
        name: `${key.name}.${randomBytes(8).toString("hex")}`,
        namespace: key.namespace,
      },
      involvedObject: {
        apiVersion,
        kind: key.kind,
        name: key.name,
        namespace: key.namespace,
        ...(typeof metadata.uid === "string" ? { uid: metadata.uid } : {}),
      },
      reason,
      message: message.length <= EVENT_MESSAGE_MAX ? message : `${message.slice(0, EVENT_MESSAGE_MAX - 1)}…`,
      type: "Warning",
      source: { component: "prepull", host: this.#options.identity },
      firstTimestamp: timestamp,
      lastTimestamp: timestamp,
      count: 1,
    });
    this.#options.onEvent?.(reason);
  }
}

/**
 * The workload, or its namespace, is going away: a 404, or the 403 the apiserver's
 * NamespaceLifecycle admission gives any create (an Event) in a namespace being terminated.
 * Retrying either would only repeat it until the workload leaves the watch.
 */
function isGone(error: unknown): boolean {
  if (!(error instanceof KubeApiError)) return false;
  return (
    error.status === 404 || (error.status === 403 && error.message.includes("because it is being terminated"))
  );
}

/** One line per failed write, without a stack: thousands of workloads may fail together. */
function messageOf(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function annotationOf(object: JsonObject): string | undefined {
  return annotationsOf(object)[STATUS_ANNOTATION];
}

function apiVersionOf(kind: WorkloadKey["kind"]): string {
  const { group, version } = WORKLOAD_KINDS[kind];
  return `${group}/${version}`;
}

async function forEachConcurrently<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) {
      const item = items[i];
      if (item !== undefined) await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
