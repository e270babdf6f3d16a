// A per-key work queue in the controller-runtime model: events only add keys; one worker takes a
// key, runs the reconcile function for it, and the function's result says when to look again
// (`requeueAfterMs`, e.g. a deadline) instead of the function arming timers of its own. A key is
// never reconciled twice at once: added while it runs, it runs again afterwards. A key added many
// times before its turn runs once. A failed run is retried with per-key exponential backoff; a
// success forgets the key's failures.
//
// One worker: a node gate's reconcile is a cache read and at most one small PATCH, and serial
// runs keep the API calls of a thousand joining nodes from arriving all at once.

import { type Clock, systemClock } from "../clock.ts";
import { backoffDelay } from "../kube/retry.ts";

export interface ReconcileResult {
  /** Run this key again after this many milliseconds, unless something adds it sooner. */
  requeueAfterMs?: number;
}

export interface KeyedQueueOptions {
  reconcile: (key: string) => Promise<ReconcileResult>;
  clock?: Clock;
  retryBaseMs?: number;
  retryMaxMs?: number;
  random?: () => number;
  onError?: (key: string, error: unknown, consecutiveFailures: number) => void;
}

interface Delayed {
  at: number;
  cancel: () => void;
}

export class KeyedQueue {
  readonly #options: KeyedQueueOptions;
  readonly #clock: Clock;
  /** Keys waiting for the worker, in arrival order (a Set keeps one entry per key). */
  readonly #ready = new Set<string>();
  readonly #delayed = new Map<string, Delayed>();
  readonly #failures = new Map<string, number>();
  #worker: Promise<void> | undefined;
  #stopped = false;

  constructor(options: KeyedQueueOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  /** Reconcile `key` soon. A pending delayed run of it is superseded: this run decides anew. */
  add(key: string): void {
    if (this.#stopped) return;
    this.#cancelDelayed(key);
    this.#ready.add(key);
    this.#startWorker();
  }

  /** Reconcile `key` in `ms`; an earlier pending or delayed run wins. */
  addAfter(key: string, ms: number): void {
    if (this.#stopped) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    if (this.#ready.has(key)) return;
    const at = this.#clock.now() + ms;
    const existing = this.#delayed.get(key);
    if (existing !== undefined && existing.at <= at) return;
    existing?.cancel();
    const cancel = this.#clock.schedule(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, ms);
    this.#delayed.set(key, { at, cancel });
  }

  /** Keys waiting to run now or later; for tests and diagnostics. */
  pending(): { ready: string[]; delayed: string[] } {
    return { ready: [...this.#ready], delayed: [...this.#delayed.keys()] };
  }

  /** Drops every pending key and waits for the run in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#ready.clear();
    for (const key of [...this.#delayed.keys()]) this.#cancelDelayed(key);
    await this.#worker;
  }

  #cancelDelayed(key: string): void {
    const delayed = this.#delayed.get(key);
    if (delayed === undefined) return;
    delayed.cancel();
    this.#delayed.delete(key);
  }

  #startWorker(): void {
    this.#worker ??= this.#work().finally(() => {
      this.#worker = undefined;
      // A key added between the loop's last check and now would otherwise wait for the next add.
      if (this.#ready.size > 0 && !this.#stopped) this.#startWorker();
    });
  }

  async #work(): Promise<void> {
    // Yield first, so the adds of one burst of events are all queued (and de-duplicated) before
    // the first run.
    await Promise.resolve();
    for (let key = first(this.#ready); key !== undefined && !this.#stopped; key = first(this.#ready)) {
      this.#ready.delete(key);
      await this.#runOnce(key);
    }
  }

  async #runOnce(key: string): Promise<void> {
    try {
      const result = await this.#options.reconcile(key);
      this.#failures.delete(key);
      if (result.requeueAfterMs !== undefined) this.addAfter(key, result.requeueAfterMs);
    } catch (error) {
      const failures = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, failures);
      this.#options.onError?.(key, error, failures);
      const delay = backoffDelay(
        failures,
        this.#options.retryBaseMs ?? 500,
        this.#options.retryMaxMs ?? 30_000,
        // Never zero: a failing key must not spin.
        0.5 + 0.5 * (this.#options.random ?? Math.random)(),
      );
      this.addAfter(key, delay);
    }
  }
}

function first(keys: ReadonlySet<string>): string | undefined {
  for (const key of keys) return key;
  return undefined;
}
