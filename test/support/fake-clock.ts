// A clock whose time only moves when the test says so, for the queues' Clock interface.
import type { Clock } from "../../src/clock.ts";

export class FakeClock implements Clock {
  time = 0;
  #timers: { at: number; fn: () => void; live: boolean }[] = [];

  now(): number {
    return this.time;
  }

  schedule(fn: () => void, ms: number): () => void {
    const timer = { at: this.time + ms, fn, live: true };
    this.#timers.push(timer);
    return () => {
      timer.live = false;
    };
  }

  /** Timers not yet fired or cancelled. */
  pendingTimers(): number {
    return this.#timers.filter((t) => t.live).length;
  }

  /** Moves time forward in 1 ms steps, firing due timers and letting promises settle. */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    while (this.time < end) {
      this.time++;
      await this.#fireDue();
    }
  }

  /** Lets pending promise chains run without moving time. */
  async settle(): Promise<void> {
    for (let i = 0; i < 20; i++) await Promise.resolve();
  }

  async #fireDue(): Promise<void> {
    for (;;) {
      const due = this.#timers.find((t) => t.live && t.at <= this.time);
      if (due === undefined) break;
      due.live = false;
      due.fn();
      await this.settle();
    }
    this.#timers = this.#timers.filter((t) => t.live);
  }
}
