// Retries with exponential backoff and full jitter, for API calls that fail for reasons that pass:
// conflicts (409), throttling (429), server errors (5xx) and broken connections. Anything else
// (403, 422, ...) is a real answer and is thrown at once.
import { isRetryable } from "./rest.ts";

export interface RetryOptions {
  /** Total attempts, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Injected for tests; defaults to a real timer. */
  sleep?: (ms: number) => Promise<void>;
  /** Defaults to Math.random; tests pass a constant. */
  random?: () => number;
  retryable?: (error: unknown) => boolean;
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

export const DEFAULT_RETRY: RetryOptions = { attempts: 5, baseDelayMs: 200, maxDelayMs: 5_000 };

export function backoffDelay(
  attempt: number,
  baseDelayMs: number,
  maxDelayMs: number,
  random: number,
): number {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
  // Full jitter: two replicas that failed together do not retry together.
  return Math.round(ceiling * random);
}

export async function withRetry<T>(
  operation: () => Promise<T>,
  options: RetryOptions = DEFAULT_RETRY,
): Promise<T> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const random = options.random ?? Math.random;
  const retryable = options.retryable ?? isRetryable;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (attempt >= options.attempts || !retryable(error)) throw error;
      const delay = backoffDelay(attempt, options.baseDelayMs, options.maxDelayMs, random());
      options.onRetry?.(error, attempt, delay);
      await sleep(delay);
    }
  }
}
