// Writes the objects prepull owns in the release namespace (DaemonSets, mirrored Secrets): server-
// side apply with field manager "prepull" and force, skipped when the live object already matches,
// and deletion of owned objects that are no longer desired. Objects without prepull's labels are
// never touched: the live view comes from a label-selected watch and is checked again here.
//
// No-op detection. Every applied manifest carries `prepull.dev/spec-hash`, a hash of the manifest
// without it. An object is up to date, and not written, when it exists with that hash and:
// - Secret: its type and data equal the desired ones (cheap to compare exactly);
// - DaemonSet: nobody changed its spec since prepull last wrote or checked it. The API server bumps
//   metadata.generation on every spec change (and only then), so after each apply the applier
//   records (uid, generation); a later generation on the same uid means a hand edit, which the
//   next reconcile (the watch sees the edit) overwrites. A generation below the record means the
//   watch has not yet delivered prepull's own write. With no record (a new leader, a restart) it
//   checks instead that every field of the desired spec has its desired value in the live spec
//   (the server adds defaults, so subset, not equality); if so it records the generation and skips.
//   A hand edit that only adds fields prepull does not set (an extra env var, say) survives, by
//   design of server-side apply: prepull restores its own fields, it does not own others'.
// Deleting an owned object (or removing its labels) makes it vanish from the watch, and the next
// reconcile applies it again.
import { canonicalJson, sha256Hex } from "../core/hash.ts";
import type { JsonObject } from "../core/workload.ts";
import { isJsonObject } from "../core/workload.ts";
import type { Logger } from "../log.ts";
import { objectPath } from "./paths.ts";
import { isRetryable, KubeApiError, type KubeRest } from "./rest.ts";
import { DEFAULT_RETRY, type RetryOptions, withRetry } from "./retry.ts";
import { NotLeaderError } from "./write-fence.ts";

const FIELD_MANAGER = "prepull";
export const SPEC_HASH_ANNOTATION = "prepull.dev/spec-hash";

export type OwnedKind = "DaemonSet" | "Secret";

/** Outcome of one apply or delete of an object prepull owns. `unchanged`: the server had nothing to change. */
export type WriteOp = "create" | "update" | "unchanged" | "delete";

export interface ApplierOptions {
  rest: KubeRest;
  namespace: string;
  /** Labels every owned object carries; an object lacking one is never written or deleted. */
  ownedLabels: Readonly<Record<string, string>>;
  logger: Logger;
  /** Called with the outcome of each write, for the writes counters. */
  onWrite: (kind: OwnedKind, op: WriteOp) => void;
  retry?: RetryOptions;
}

interface Record_ {
  uid: string;
  generation: number;
  resourceVersion: string;
  hash: string;
}

/** The manifest with its spec-hash annotation set, and that hash. */
export function withSpecHash(manifest: JsonObject): { manifest: JsonObject; hash: string } {
  const metadata = isJsonObject(manifest.metadata) ? manifest.metadata : {};
  const annotations = isJsonObject(metadata.annotations) ? { ...metadata.annotations } : {};
  delete annotations[SPEC_HASH_ANNOTATION];
  const base = { ...manifest, metadata: { ...metadata, annotations } };
  const hash = sha256Hex(canonicalJson(base)).slice(0, 32);
  return {
    manifest: {
      ...base,
      metadata: { ...metadata, annotations: { ...annotations, [SPEC_HASH_ANNOTATION]: hash } },
    },
    hash,
  };
}

/** Every field of `desired` has the same value in `live` (arrays: same length, element-wise). */
export function isSubset(desired: unknown, live: unknown): boolean {
  if (Array.isArray(desired)) {
    return (
      Array.isArray(live) && desired.length === live.length && desired.every((d, i) => isSubset(d, live[i]))
    );
  }
  if (isJsonObject(desired)) {
    return (
      isJsonObject(live) &&
      Object.entries(desired).every(([key, value]) => value === undefined || isSubset(value, live[key]))
    );
  }
  return desired === live;
}

export class OwnedObjectApplier {
  readonly #options: ApplierOptions;
  readonly #records = new Map<string, Record_>();

  constructor(options: ApplierOptions) {
    this.#options = options;
  }

  /**
   * Makes the owned objects of one kind equal the desired ones: applies what differs, then deletes
   * owned objects not desired. `live` is the watch's view of owned objects of that kind.
   * Stops before the next write when canWrite() turns false (leadership lost). Every object is
   * attempted; if any failed, one error naming them all is thrown at the end.
   */
  async sync(
    kind: OwnedKind,
    desired: readonly object[],
    live: readonly JsonObject[],
    canWrite: () => boolean,
  ): Promise<void> {
    await this.apply(kind, desired, live, canWrite);
    await this.prune(kind, desired, live, canWrite);
  }

  /** The apply half of sync: creates and updates, no deletion. */
  async apply(
    kind: OwnedKind,
    desired: readonly object[],
    live: readonly JsonObject[],
    canWrite: () => boolean,
  ): Promise<void> {
    const liveByName = this.#owned(live);
    const writes = desired.map(toJsonObject).flatMap((manifest) => {
      const name = nameOf(manifest);
      const { manifest: hashed, hash } = withSpecHash(manifest);
      const current = liveByName.get(name);
      if (this.#upToDate(kind, name, hashed, hash, current)) return [];
      return [{ name, write: () => this.#apply(kind, name, hashed, hash, current, canWrite) }];
    });
    await writeEach(kind, "apply", writes, canWrite, this.#options.logger);
  }

  /** The delete half of sync: owned objects whose names are not desired. */
  async prune(
    kind: OwnedKind,
    desired: readonly object[],
    live: readonly JsonObject[],
    canWrite: () => boolean,
  ): Promise<void> {
    const desiredNames = new Set(desired.map(toJsonObject).map(nameOf));
    const deletes = [...this.#owned(live)]
      .filter(([name]) => !desiredNames.has(name))
      .map(([name, object]) => ({ name, write: () => this.#delete(kind, name, object, canWrite) }));
    await writeEach(kind, "delete", deletes, canWrite, this.#options.logger);
  }

  #owned(live: readonly JsonObject[]): Map<string, JsonObject> {
    const byName = new Map<string, JsonObject>();
    for (const object of live) if (this.#isOwned(object)) byName.set(nameOf(object), object);
    return byName;
  }

  #path(kind: OwnedKind, name: string): string {
    return objectPath(kind, this.#options.namespace, name);
  }

  #isOwned(object: JsonObject): boolean {
    const metadata = isJsonObject(object.metadata) ? object.metadata : {};
    const labels = isJsonObject(metadata.labels) ? metadata.labels : {};
    if (metadata.namespace !== this.#options.namespace) return false;
    return Object.entries(this.#options.ownedLabels).every(([key, value]) => labels[key] === value);
  }

  #upToDate(
    kind: OwnedKind,
    name: string,
    desired: JsonObject,
    hash: string,
    current: JsonObject | undefined,
  ): boolean {
    if (current === undefined) return false;
    const meta = metaOf(current);
    const record = this.#records.get(`${kind}/${name}`);
    if (kind === "DaemonSet" && record !== undefined && record.uid === meta.uid) {
      // Our own write is newer than what the watch has delivered so far.
      if (meta.generation < record.generation) return record.hash === hash;
      if (meta.generation > record.generation) return false; // someone changed the spec
      return meta.hash === hash && record.hash === hash;
    }
    if (meta.hash !== hash) return false;
    if (kind === "Secret")
      return (
        current.type === desired.type &&
        canonicalJson(desired.data ?? {}) === canonicalJson(current.data ?? {})
      );
    if (!isSubset(desired.spec, current.spec)) return false;
    this.#records.set(`${kind}/${name}`, {
      uid: meta.uid,
      generation: meta.generation,
      resourceVersion: meta.resourceVersion,
      hash,
    });
    return true;
  }

  async #apply(
    kind: OwnedKind,
    name: string,
    manifest: JsonObject,
    hash: string,
    current: JsonObject | undefined,
    canWrite: () => boolean,
  ): Promise<void> {
    const key = `${kind}/${name}`;
    const before = this.#records.get(key);
    const response = await withRetry(
      () =>
        whileAllowed(canWrite, () =>
          this.#options.rest.apply(this.#path(kind, name), manifest, FIELD_MANAGER),
        ),
      this.#retryOptions(kind, name),
    );
    const after = metaOf(response);
    const knownVersions = new Set([
      current === undefined ? "" : metaOf(current).resourceVersion,
      before?.resourceVersion ?? "",
    ]);
    let op: WriteOp;
    if (knownVersions.has(after.resourceVersion)) op = "unchanged";
    else if (current === undefined && (before === undefined || before.uid !== after.uid)) op = "create";
    else op = "update";
    this.#records.set(key, {
      uid: after.uid,
      generation: after.generation,
      resourceVersion: after.resourceVersion,
      hash,
    });
    this.#options.onWrite(kind, op);
    this.#options.logger.info({ kind, name, op, generation: after.generation }, "applied");
  }

  /** True when this call deleted it; false when it was already gone or replaced meanwhile. */
  async #delete(
    kind: OwnedKind,
    name: string,
    object: JsonObject,
    canWrite: () => boolean,
  ): Promise<boolean> {
    const { uid } = metaOf(object);
    try {
      await withRetry(
        () =>
          whileAllowed(canWrite, () =>
            this.#options.rest.delete(this.#path(kind, name), {
              apiVersion: "v1",
              kind: "DeleteOptions",
              propagationPolicy: "Background",
              // Only the object the watch showed: never one recreated under the same name meanwhile.
              preconditions: { uid },
            }),
          ),
        // A failed uid precondition is a 409 too, and final.
        this.#retryOptions(
          kind,
          name,
          (error) => isRetryable(error) && !(error instanceof KubeApiError && error.status === 409),
        ),
      );
    } catch (error) {
      // 404: already gone; 409 on a uid precondition: a different object now has the name.
      if (error instanceof KubeApiError && (error.status === 404 || error.status === 409)) return false;
      throw error;
    } finally {
      this.#records.delete(`${kind}/${name}`);
    }
    this.#options.onWrite(kind, "delete");
    this.#options.logger.info({ kind, name }, "deleted");
    return true;
  }

  #retryOptions(
    kind: OwnedKind,
    name: string,
    retryable: (error: unknown) => boolean = isRetryable,
  ): RetryOptions {
    return {
      ...(this.#options.retry ?? DEFAULT_RETRY),
      retryable,
      onRetry: (error, attempt, delayMs) =>
        this.#options.logger.warn({ err: error, kind, name, attempt, delayMs }, "write failed; retrying"),
    };
  }
}

/** Why a write was not sent: this replica stopped leading (between writes or between retries). */
/** Sends the write only while canWrite() holds: a retry after a lost lease must not go out. */
function whileAllowed<T>(canWrite: () => boolean, write: () => Promise<T>): Promise<T> {
  return canWrite() ? write() : Promise.reject(new NotLeaderError());
}

/**
 * Runs the writes one at a time, stopping before the next one when canWrite() turns false. Every
 * write is attempted; failures are logged and then thrown together, so the run is retried.
 */
async function writeEach(
  kind: OwnedKind,
  what: "apply" | "delete",
  writes: readonly { name: string; write: () => Promise<unknown> }[],
  canWrite: () => boolean,
  logger: Logger,
): Promise<void> {
  const failures: unknown[] = [];
  for (const { name, write } of writes) {
    if (!canWrite()) return;
    try {
      await write();
    } catch (error) {
      failures.push(error);
      logger.error({ err: error, kind, name }, `${what} failed`);
    }
  }
  if (failures.length > 0) throw new AggregateError(failures, `${failures.length} ${kind} ${what}(s) failed`);
}

/** A manifest type (an interface, without an index signature) seen as the plain JSON it is. */
function toJsonObject(manifest: object): JsonObject {
  return Object.fromEntries(Object.entries(manifest));
}

function nameOf(object: JsonObject): string {
  const metadata = isJsonObject(object.metadata) ? object.metadata : {};
  return typeof metadata.name === "string" ? metadata.name : "";
}

function metaOf(object: JsonObject): {
  uid: string;
  generation: number;
  resourceVersion: string;
  hash: string | undefined;
} {
  const metadata = isJsonObject(object.metadata) ? object.metadata : {};
  const annotations = isJsonObject(metadata.annotations) ? metadata.annotations : {};
  const hash = annotations[SPEC_HASH_ANNOTATION];
  return {
    uid: typeof metadata.uid === "string" ? metadata.uid : "",
    generation: typeof metadata.generation === "number" ? metadata.generation : 0,
    resourceVersion: typeof metadata.resourceVersion === "string" ? metadata.resourceVersion : "",
    hash: typeof hash === "string" ? hash : undefined,
  };
}
