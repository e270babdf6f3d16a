// The coalescing trigger between "something changed" and "reconcile". Admission kicks and watch
// events only mark the state dirty; one reconcile runs after a short quiet period (debounce), and
// never later than maxDelay after the first unhandled mark, so a steady stream of events cannot
// postpone it forever. A hundred admissions within a second give a handful of reconciles, each of
// which sees everything that happened before it started. Two reconciles never overlap: marks that
// arrive during a run schedule the next one when it ends. A failed run is retried with backoff.
// It is a trigger, not a queue: a reconcile reads everything from its watches, so what a mark
// carries (admission's request) is not kept, only counted for the queue-depth gauge.
//
// Two kinds of marks. A change of what to pre-pull (admission, a workload, a hand edit of a
// DaemonSet) is urgent: it follows the debounce rule above. A change that only moves status (a
// DaemonSet pod becoming ready, a DaemonSet's status) is lazy: it is handled within maxDelay but
// never extends an urgent mark's debounce. During a rollout on many nodes pod events arrive
// constantly; were they urgent, every workload change would wait the full maxDelay behind them.
//
// "Run again later" is the run's own result, as controller-runtime's Result{RequeueAfter}: a run
// returns when it wants the next one (a rate-limited status change, a status publication to
// retry), and the trigger keeps the one timer. Each run's result replaces the previous run's; a
// mark before that time runs on the debounce rule as usual, and that run decides anew. Work a run
// hands to the background (the status publication) reports its own result when it settles; the
// earliest requeue wins.
import { type Clock, systemClock } from "../clock.ts";
import type { ReconcileHandoff, ReconcileRequest } from "../core/handoff.ts";
import { backoffDelay } from "../kube/retry.ts";

/** When to run again: this long from now, unless a mark brings a run sooner; never when unset. */
export interface Requeue {
  requeueAfterMs?: number;
}

/** What a reconcile run returns. */
export interface ReconcileResult extends Requeue {
  /**
   * Work the run started but did not wait for (the status publication); its requeue counts too
   * when it settles. It never rejects: its failures are its own requeue.
   */
  background?: Promise<Requeue>;
}

export interface ReconcileTriggerOptions {
  run: () => Promise<ReconcileResult>;
  /** Quiet period after the latest mark before a run starts. */
  debounceMs: number;
  /** Longest wait from the first unhandled mark to the start of its run. */
  maxDelayMs: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  clock?: Clock;
  random?: () => number;
  onError?: (error: unknown, consecutiveFailures: number) => void;
}

export class ReconcileTrigger implements ReconcileHandoff {
  readonly #options: ReconcileTriggerOptions;
  readonly #clock: Clock;
  #pendingRequests = 0;
  /** When the oldest unhandled urgent mark arrived; undefined when there is none. */
  #urgentSince: number | undefined;
  #lastUrgent = 0;
  /** When the oldest unhandled lazy mark arrived; undefined when there is none. */
  #lazySince: number | undefined;
  /** When the latest run (or background work since) asked for another run; undefined: none. */
  #requeueAt: number | undefined;
  /** After a failure, no run before this time. */
  #notBefore = 0;
  #failures = 0;
  #cancelTimer: (() => void) | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(options: ReconcileTriggerOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  /** The admission hand-off: constant time, no I/O. The request is an urgent mark, nothing more. */
  enqueue(_request: ReconcileRequest): void {
    this.#pendingRequests++;
    this.trigger();
  }

  /** A change seen by a watch, a resync tick, a won election: reconcile soon. */
  trigger(urgency: "urgent" | "lazy" = "urgent"): void {
    if (this.#stopped) return;
    const now = this.#clock.now();
    if (urgency === "urgent") {
      this.#lastUrgent = now;
      if (this.#urgentSince === undefined) this.#urgentSince = now;
    } else if (this.#lazySince === undefined) {
      this.#lazySince = now;
    }
    if (this.#running === undefined) this.#schedule();
  }

  depth(): number {
    return this.#pendingRequests;
  }

  /** Stops scheduling and waits for a run in progress to finish. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    await this.#running;
  }

  #schedule(): void {
    if (this.#stopped) return;
    const { debounceMs, maxDelayMs } = this.#options;
    let due = Number.POSITIVE_INFINITY;
    if (this.#urgentSince !== undefined) {
      due = Math.min(this.#lastUrgent + debounceMs, this.#urgentSince + maxDelayMs);
    }
    if (this.#lazySince !== undefined) due = Math.min(due, this.#lazySince + maxDelayMs);
    if (this.#requeueAt !== undefined) due = Math.min(due, this.#requeueAt);
    if (!Number.isFinite(due)) return;
    due = Math.max(this.#notBefore, due);
    this.#cancelTimer?.();
    this.#cancelTimer = this.#clock.schedule(() => this.#fire(), Math.max(0, due - this.#clock.now()));
  }

  #fire(): void {
    this.#cancelTimer = undefined;
    if (this.#stopped || this.#running !== undefined) return;
    this.#urgentSince = undefined;
    this.#lazySince = undefined;
    // This run decides anew whether, and when, another is wanted.
    this.#requeueAt = undefined;
    this.#pendingRequests = 0;
    this.#running = this.#runOnce().finally(() => {
      this.#running = undefined;
      this.#schedule();
    });
  }

  async #runOnce(): Promise<void> {
    try {
      const result = await this.#options.run();
      this.#failures = 0;
      this.#notBefore = 0;
      this.#requeueEarlier(result);
      result.background?.then((later) => this.#requeueEarlier(later));
    } catch (error) {
      this.#failures++;
      this.#options.onError?.(error, this.#failures);
      const delay = backoffDelay(
        this.#failures,
        this.#options.retryBaseMs ?? 500,
        this.#options.retryMaxMs ?? 30_000,
        // Never zero: a failing run must not spin.
        0.5 + 0.5 * (this.#options.random ?? Math.random)(),
      );
      const now = this.#clock.now();
      this.#notBefore = now + delay;
      this.#lastUrgent = now;
      if (this.#urgentSince === undefined) this.#urgentSince = now;
    }
  }

  /**
   * The earliest requeue wins. #fire cleared the previous run's, so what is set here came from
   * this run or from background work that settled since it started.
   */
  #requeueEarlier({ requeueAfterMs }: Requeue): void {
    if (this.#stopped || requeueAfterMs === undefined) return;
    const at = this.#clock.now() + Math.max(0, requeueAfterMs);
    if (this.#requeueAt !== undefined && this.#requeueAt <= at) return;
    this.#requeueAt = at;
    if (this.#running === undefined) this.#schedule();
  }
}
