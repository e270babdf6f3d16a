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
  restartBaseMs?: number;
  restartMaxMs?: number;
}

export function isCachedObject(value: unknown): value is CachedObject {
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
    const query = { labelSelector: options.labelSelector, fieldSelector: options.fieldSelector };
    const list = async (): Promise<KubernetesListObject<CachedObject>> => {
      const body = await options.rest.get(options.path, query);
      const items = Array.isArray(body.items) ? body.items.filter(isCachedObject) : [];
      const metadata = isJsonObject(body.metadata) ? body.metadata : {};
      const resourceVersion = typeof metadata.resourceVersion === "string" ? metadata.resourceVersion : "";
      // ListWatch applies the items to its cache right after this promise settles, in the same
      // chain of microtasks; a macrotask later they are all there.
      setImmediate(() => this.#markListed());
      return { metadata: { resourceVersion }, items };
    };
    this.#listWatch = new ListWatch<CachedObject>(
      options.path,
      new Watch(options.kubeConfig),
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
