// Time and timers, injectable so tests drive them by hand (a fake clock) instead of sleeping.
// Monotonic time for every interval and deadline: a wall-clock step (NTP) must not make a leader
// believe it renewed in the future, nor a queue fire early.

export interface Clock {
  /** Monotonic milliseconds. */
  now(): number;
  /** Calls fn after ms; the returned function cancels it. */
  schedule(fn: () => void, ms: number): () => void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  schedule(fn, ms) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};
