import { describe, expect, it } from "vitest";
import { KeyedQueue, type ReconcileResult } from "../../src/reconcile/keyed-queue.ts";
import { FakeClock } from "../support/fake-clock.ts";

/** A reconcile whose runs the test can see, hold and script. */
function setup(script: (key: string, run: number) => ReconcileResult | Error = () => ({})) {
  const clock = new FakeClock();
  const runs: { key: string; at: number }[] = [];
  const errors: { key: string; failures: number }[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let hold: Promise<void> | undefined;
  const queue = new KeyedQueue({
    clock,
    random: () => 1,
    retryBaseMs: 100,
    retryMaxMs: 1_000,
    onError: (key, _error, failures) => errors.push({ key, failures }),
    async reconcile(key) {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      runs.push({ key, at: clock.now() });
      try {
        await hold;
        const outcome = script(key, runs.filter((r) => r.key === key).length);
        if (outcome instanceof Error) throw outcome;
        return outcome;
      } finally {
        inFlight--;
      }
    },
  });
  return {
    clock,
    queue,
    runs,
    errors,
    maxInFlight: () => maxInFlight,
    holdRuns() {
      let release = () => {};
      hold = new Promise<void>((resolve) => {
        release = resolve;
      });
      return () => {
        hold = undefined;
        release();
      };
    },
  };
}

describe("KeyedQueue", () => {
  it("runs a key added many times in one burst once", async () => {
    const { clock, queue, runs } = setup();
    for (let i = 0; i < 5; i++) queue.add("node-a");
    queue.add("node-b");
    await clock.settle();
    expect(runs.map((r) => r.key)).toEqual(["node-a", "node-b"]);
  });

  it("never runs a key twice at once; added while running, it runs again after", async () => {
    const { clock, queue, runs, holdRuns, maxInFlight } = setup();
    const release = holdRuns();
    queue.add("node-a");
    await clock.settle();
    expect(runs).toHaveLength(1);
    queue.add("node-a");
    queue.add("node-a");
    await clock.settle();
    expect(runs).toHaveLength(1);
    release();
    await clock.settle();
    expect(runs.map((r) => r.key)).toEqual(["node-a", "node-a"]);
    expect(maxInFlight()).toBe(1);
  });

  it("runs a key again when its result asks, not before", async () => {
    const { clock, queue, runs } = setup((_key, run) => (run === 1 ? { requeueAfterMs: 50 } : {}));
    queue.add("node-a");
    await clock.settle();
    await clock.advance(49);
    expect(runs).toHaveLength(1);
    await clock.advance(1);
    expect(runs.map((r) => r.at)).toEqual([0, 50]);
    await clock.advance(500);
    expect(runs).toHaveLength(2);
    expect(clock.pendingTimers()).toBe(0);
  });

  it("an add before the requeue time runs at once and replaces the delayed run", async () => {
    const { clock, queue, runs } = setup((_key, run) => (run === 1 ? { requeueAfterMs: 1_000 } : {}));
    queue.add("node-a");
    await clock.settle();
    await clock.advance(10);
    queue.add("node-a");
    await clock.settle();
    expect(runs.map((r) => r.at)).toEqual([0, 10]);
    expect(clock.pendingTimers()).toBe(0);
    await clock.advance(2_000);
    expect(runs).toHaveLength(2);
  });

  it("an earlier delayed run wins over a later one", async () => {
    const { clock, queue, runs } = setup();
    queue.addAfter("node-a", 100);
    queue.addAfter("node-a", 300);
    queue.addAfter("node-a", 200);
    await clock.advance(400);
    expect(runs.map((r) => r.at)).toEqual([100]);
  });

  it("retries a failing key with exponential backoff and forgets failures after a success", async () => {
    const { clock, queue, runs, errors } = setup((_key, run) =>
      run <= 3 ? new Error(`run ${run} failed`) : run === 4 ? {} : new Error("fails again"),
    );
    queue.add("node-a");
    await clock.settle();
    await clock.advance(1_000);
    // Delays 100, 200, 400 (random 1: the full ceiling), then success.
    expect(runs.map((r) => r.at)).toEqual([0, 100, 300, 700]);
    expect(errors.map((e) => e.failures)).toEqual([1, 2, 3]);
    queue.add("node-a");
    await clock.settle();
    await clock.advance(100);
    // The count started again at 1: retried after 100 ms, not 800.
    expect(errors.map((e) => e.failures)).toEqual([1, 2, 3, 1, 2]);
  });

  it("stop drops pending keys and waits for the run in progress", async () => {
    const { clock, queue, runs, holdRuns } = setup();
    const release = holdRuns();
    queue.add("node-a");
    await clock.settle();
    queue.add("node-b");
    queue.addAfter("node-c", 10);
    let stopped = false;
    const stopping = queue.stop().then(() => {
      stopped = true;
    });
    await clock.settle();
    expect(stopped).toBe(false);
    release();
    await stopping;
    await clock.advance(100);
    expect(runs.map((r) => r.key)).toEqual(["node-a"]);
    queue.add("node-d");
    await clock.settle();
    expect(runs.map((r) => r.key)).toEqual(["node-a"]);
  });
});
