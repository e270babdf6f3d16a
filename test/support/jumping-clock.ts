// A clock that moves only when a test says so, jumping from timer to timer (fake-clock.ts steps
// 1 ms at a time, fine for the queues' milliseconds, slow for minutes of leases). advance() fires
// every timer due on the way, in order, letting the promise chains each timer starts run to completion before the next one: so
// a test drives minutes of leader election or queueing in milliseconds, with no real timers.
import type { Clock } from "../../src/clock.ts";

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
}

export class JumpingClock implements Clock {
  #now = 0;
  #seq = 0;
  #timers: Timer[] = [];

  now(): number {
    return this.#now;
  }

  schedule(fn: () => void, ms: number): () => void {
    const timer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn };
    this.#timers.push(timer);
    return () => {
      this.#timers = this.#timers.filter((t) => t !== timer);
    };
  }

  /** Moves time forward by ms, firing the timers due on the way (and those they schedule). */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    for (;;) {
      await settle();
      const next = this.#timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (next === undefined) break;
      this.#timers = this.#timers.filter((t) => t !== next);
      this.#now = next.at;
      next.fn();
    }
    this.#now = end;
    await settle();
  }

  /** Advances to an absolute time. */
  async advanceTo(at: number): Promise<void> {
    await this.advance(Math.max(0, at - this.#now));
  }

  /** Moves time without firing anything: a process whose event loop was blocked. */
  jump(ms: number): void {
    this.#now += ms;
  }
}

/** Lets every pending promise chain (fakes answer at once) run before time moves on. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
