import { describe, expect, it } from "vitest";
import type { ReconcileRequest } from "../../src/core/handoff.ts";
import { type ReconcileResult, ReconcileTrigger } from "../../src/reconcile/trigger.ts";
import { FakeClock } from "../support/fake-clock.ts";

const request: ReconcileRequest = { kind: "Deployment", namespace: "ns", name: "web", operation: "CREATE" };

function setup(
  runMs = 0,
  fail: () => boolean = () => false,
  result: (clock: FakeClock) => ReconcileResult = () => ({}),
) {
  const clock = new FakeClock();
  const starts: number[] = [];
  let concurrent = 0;
  let maxConcurrent = 0;
  const errors: number[] = [];
  const queue = new ReconcileTrigger({
    debounceMs: 200,
    maxDelayMs: 1000,
    clock,
    random: () => 0,
    retryBaseMs: 500,
    retryMaxMs: 4000,
    onError: (_e, n) => errors.push(n),
    run: async () => {
      starts.push(clock.now());
      concurrent++;
      maxConcurrent = Math.max(maxConcurrent, concurrent);
      if (runMs > 0) await new Promise<void>((resolve) => clock.schedule(resolve, runMs));
      concurrent--;
      if (fail()) throw new Error("api down");
      return result(clock);
    },
  });
  return { clock, queue, starts, errors, maxConcurrent: () => maxConcurrent };
}

describe("ReconcileTrigger", () => {
  it("runs once after the debounce for a single request", async () => {
    const { clock, queue, starts } = setup();
    queue.enqueue(request);
    expect(queue.depth()).toBe(1);
    await clock.advance(199);
    expect(starts).toEqual([]);
    await clock.advance(1);
    expect(starts).toEqual([200]);
    expect(queue.depth()).toBe(0);
  });

  it("coalesces a burst of 100 requests within a second into one run", async () => {
    const { clock, queue, starts } = setup();
    for (let i = 0; i < 100; i++) {
      queue.enqueue({ ...request, name: `w${i}` });
      await clock.advance(5);
    }
    expect(queue.depth()).toBe(100);
    await clock.advance(300);
    expect(starts).toEqual([695]); // 200 ms after the last request, at 495
  });

  it("never waits longer than maxDelay under a steady stream", async () => {
    const { clock, queue, starts } = setup();
    for (let i = 0; i < 300; i++) {
      queue.trigger();
      await clock.advance(10);
    }
    // Marks every 10 ms would postpone a pure debounce forever; the cap fires every second.
    expect(starts).toEqual([1000, 2000, 3000]);
  });

  it("never overlaps runs and runs again after one that saw marks arrive", async () => {
    const { clock, queue, starts, maxConcurrent } = setup(500);
    queue.trigger();
    await clock.advance(300); // run starts at 200, lasts until 700
    queue.trigger();
    queue.trigger();
    await clock.advance(1000);
    expect(maxConcurrent()).toBe(1);
    // The marks at 300 are overdue by the time the first run ends (300 + 200 = 500 < 700).
    expect(starts).toEqual([200, 700]);
  });

  it("lazy marks are handled within maxDelay and do not postpone an urgent one", async () => {
    const { clock, queue, starts } = setup();
    queue.trigger("lazy");
    await clock.advance(500);
    queue.trigger("urgent");
    for (let i = 0; i < 20; i++) {
      queue.trigger("lazy");
      await clock.advance(10);
    }
    // The urgent mark at 500 runs at 700, however many lazy marks follow it.
    expect(starts).toEqual([700]);
    for (let i = 0; i < 150; i++) {
      queue.trigger("lazy");
      await clock.advance(10);
    }
    // A stream of lazy marks alone: one run per maxDelay.
    expect(starts).toEqual([700, 1700]);
  });

  it("does nothing without marks", async () => {
    const { clock, starts } = setup();
    await clock.advance(5000);
    expect(starts).toEqual([]);
  });

  it("retries a failed run with growing backoff, then stops once it succeeds", async () => {
    let failures = 2;
    const { clock, queue, starts, errors } = setup(0, () => failures-- > 0);
    queue.trigger();
    await clock.advance(5000);
    // random 0 → half the ceiling: 250 ms after the first failure, 500 ms after the second.
    expect(starts).toEqual([200, 450, 950]);
    expect(errors).toEqual([1, 2]);
  });

  it("stop cancels a scheduled run and waits for a running one", async () => {
    const { clock, queue, starts } = setup(100);
    queue.trigger();
    await clock.advance(250);
    expect(starts).toEqual([200]);
    const stopped = queue.stop();
    queue.trigger();
    await clock.advance(100);
    await stopped;
    await clock.advance(1000);
    expect(starts).toEqual([200]);
  });
});

/** The results of successive runs, in order; {} once the list is used up. */
function results(...list: ((clock: FakeClock) => ReconcileResult)[]): (clock: FakeClock) => ReconcileResult {
  return (clock) => list.shift()?.(clock) ?? {};
}

/** Background work that settles `afterMs` after the run returned, asking for a run `requeueAfterMs` later. */
function background(
  clock: FakeClock,
  afterMs: number,
  requeueAfterMs: number,
): Promise<{ requeueAfterMs: number }> {
  return new Promise((resolve) => clock.schedule(() => resolve({ requeueAfterMs }), afterMs));
}

describe("ReconcileTrigger requeue: the run's result says when to run next", () => {
  it("runs again when a result asks, and stops when the next result does not", async () => {
    const { clock, queue, starts } = setup(
      0,
      undefined,
      results(() => ({ requeueAfterMs: 3000 })),
    );
    queue.trigger();
    await clock.advance(10_000);
    expect(starts).toEqual([200, 3200]);
    expect(clock.pendingTimers()).toBe(0);
  });

  it("the earliest requeue wins: a background result sooner than the run's own", async () => {
    const { clock, queue, starts } = setup(
      0,
      undefined,
      results((c) => ({ requeueAfterMs: 5000, background: background(c, 300, 1000) })),
    );
    queue.trigger();
    await clock.advance(10_000);
    // The background settles at 500 and asks for 1500, before the run's own 5200.
    expect(starts).toEqual([200, 1500]);
  });

  it("the earliest requeue wins: a background result later than the run's own does not delay it", async () => {
    const { clock, queue, starts } = setup(
      0,
      undefined,
      results((c) => ({ requeueAfterMs: 1000, background: background(c, 300, 5000) })),
    );
    queue.trigger();
    await clock.advance(10_000);
    expect(starts).toEqual([200, 1200]);
  });

  it("a mark before the requeue time runs at once, and that run's empty result drops the requeue", async () => {
    const { clock, queue, starts } = setup(
      0,
      undefined,
      results(() => ({ requeueAfterMs: 5000 })),
    );
    queue.trigger();
    await clock.advance(1000);
    queue.trigger();
    await clock.advance(9000);
    // The mark at 1000 runs after the debounce (1200), not at the requeue time (5200); nothing after.
    expect(starts).toEqual([200, 1200]);
  });

  it("a mark before the requeue time runs at once, and that run's result sets the next requeue", async () => {
    const { clock, queue, starts } = setup(
      0,
      undefined,
      results(
        () => ({ requeueAfterMs: 5000 }),
        () => ({ requeueAfterMs: 8000 }),
      ),
    );
    queue.trigger();
    await clock.advance(1000);
    queue.trigger();
    await clock.advance(10_000);
    expect(starts).toEqual([200, 1200, 9200]);
  });

  it("a requeue during a run's debounce runs at the earlier of the two", async () => {
    const { clock, queue, starts } = setup(
      0,
      undefined,
      results(() => ({ requeueAfterMs: 100 })),
    );
    queue.trigger();
    await clock.advance(250);
    queue.trigger("lazy");
    await clock.advance(2000);
    // Requeue at 300 comes before the lazy mark's maxDelay (250 + 1000).
    expect(starts).toEqual([200, 300]);
  });

  it("stop cancels a pending requeue", async () => {
    const { clock, queue, starts } = setup(
      0,
      undefined,
      results(() => ({ requeueAfterMs: 1000 })),
    );
    queue.trigger();
    await clock.advance(300);
    await queue.stop();
    await clock.advance(5000);
    expect(starts).toEqual([200]);
    expect(clock.pendingTimers()).toBe(0);
  });
});
