// One list+watch of one resource collection, kept as a local cache, on client-node's ListWatch.
//
// What ListWatch already does (dist/cache.js): list, then watch from the list's resourceVersion;
// on a 410 Gone (as a watch ERROR event or an HTTP status) it forgets the resourceVersion and
// re-lists, sending delete callbacks for objects that vanished meanwhile; on a quiet connection's
// client-side timeout it re-watches at once. What it does not do: after any other error (list
// refused, connection refused, 5xx) it calls the error callbacks and stops for good. This wrapper
// restarts it with exponential backoff, resuming from the last resourceVersion (a 410 then makes it
// re-list), and says when the first list has landed in the cache, because a reconciler that acted
// on an empty cache would delete everything it owns.
import type { KubeConfig, KubernetesListObject, KubernetesObject } from "@kubernetes/client-node";
import { ADD, DELETE, ERROR, ListWatch, UPDATE, Watch } from "@kubernetes/client-node";
import { isJsonObject, type JsonObject } from "../core/workload.ts";
import type { Logger } from "../log.ts";
import { listPages } from "./collections.ts";
import type { KubeRest } from "./rest.ts";

export type WatchEventType = "add" | "update" | "delete";

/** A Kubernetes object as plain JSON, with the metadata every cached object has. */
export type CachedObject = KubernetesObject & JsonObject;

export interface ResourceWatchOptions {
  kubeConfig: KubeConfig;
  rest: KubeRest;
  /** Collection path, e.g. /apis/apps/v1/deployments (all namespaces). */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  logger: Logger;
  onEvent: (type: WatchEventType, object: CachedObject) => void;
  /** After every successful (re-)list has been applied to the cache. */
  onListed?: () => void;
  /** Reduces each object to what its readers need before it is cached; it must keep metadata. */
  transform?: (object: CachedObject) => CachedObject;
  /** Objects per list page; defaults to LIST_PAGE_SIZE (collections.ts). */
  pageSize?: number;
  restartBaseMs?: number;
  restartMaxMs?: number;
}

function isCachedObject(value: unknown): value is CachedObject {
  return isJsonObject(value) && isJsonObject(value.metadata) && typeof value.metadata.name === "string";
}

export class ResourceWatch {
  readonly #options: ResourceWatchOptions;
  readonly #listWatch: ListWatch<CachedObject>;
  #listed = false;
  #stopped = true;
  #restartDelayMs: number;
  #restartTimer: NodeJS.Timeout | undefined;

  constructor(options: ResourceWatchOptions) {
    this.#options = options;
    this.#restartDelayMs = options.restartBaseMs ?? 1_000;
    const transform = options.transform ?? ((object: CachedObject) => object);
    const list = async (): Promise<KubernetesListObject<CachedObject>> => {
      const { items, resourceVersion } = await listPages(
        options.rest,
        options.path,
        { labelSelector: options.labelSelector, fieldSelector: options.fieldSelector },
        options.pageSize,
      );
      // ListWatch applies the items to its cache right after this promise settles, in the same
      // chain of microtasks; a macrotask later they are all there.
      setImmediate(() => this.#markListed());
      return { metadata: { resourceVersion }, items: items.filter(isCachedObject).map(transform) };
    };
    this.#listWatch = new ListWatch<CachedObject>(
      options.path,
      transformingWatch(new Watch(options.kubeConfig), transform),
      list,
      false,
      options.labelSelector,
      options.fieldSelector,
    );
    this.#listWatch.on(ADD, (object) => this.#options.onEvent("add", object));
    this.#listWatch.on(UPDATE, (object) => this.#options.onEvent("update", object));
    this.#listWatch.on(DELETE, (object) => this.#options.onEvent("delete", object));
    this.#listWatch.on(ERROR, (error: unknown) => this.#failed(error));
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#restartTimer !== undefined) clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    await this.#listWatch.stop();
  }

  /** Whether the cache holds a complete list (it stays true through later re-lists). */
  listed(): boolean {
    return this.#listed;
  }

  list(namespace?: string): readonly CachedObject[] {
    return this.#listWatch.list(namespace);
  }

  /** One cached object by name (and namespace, for namespaced resources). */
  get(name: string, namespace?: string): CachedObject | undefined {
    return this.#listWatch.get(name, namespace);
  }

  /** Errors inside list or watch reach the ERROR callback; this catches the rest (authentication). */
  #run(): void {
    this.#listWatch.start().catch((error: unknown) => this.#failed(error));
  }

  #markListed(): void {
    this.#listed = true;
    this.#restartDelayMs = this.#options.restartBaseMs ?? 1_000;
    this.#options.onListed?.();
  }

  #failed(error: unknown): void {
    if (this.#stopped) return;
    const delay = this.#restartDelayMs;
    this.#restartDelayMs = Math.min(delay * 2, this.#options.restartMaxMs ?? 30_000);
    this.#options.logger.warn(
      { err: error, path: this.#options.path, retryInMs: delay },
      "watch failed; restarting it",
    );
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (!this.#stopped) this.#run();
    }, delay);
  }
}

/**
 * The Watch ListWatch streams from, with each event's object transformed before ListWatch caches
 * it. ERROR (a Status) and BOOKMARK events pass untouched: ListWatch reads their code and
 * resourceVersion.
 */
function transformingWatch(watch: Watch, transform: (object: CachedObject) => CachedObject): Watch {
  const wrapped: Pick<Watch, "watch"> = {
    watch: (path, query, callback, done) =>
      watch.watch(
        path,
        query,
        (phase, object, raw) =>
          callback(
            phase,
            phase === "ERROR" || phase === "BOOKMARK" || !isCachedObject(object) ? object : transform(object),
            raw,
          ),
        done,
      ),
  };
  // ListWatch only ever calls watch(); the rest of the class is never touched.
  return wrapped as Watch;
}
