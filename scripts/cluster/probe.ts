// Health probes: one HTTP(S) GET with a short timeout, and a poll loop with a deadline that says
// what it was waiting for and where to look when it gives up.
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { setTimeout as sleep } from "node:timers/promises";

export interface TlsClient {
  ca: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
}

export interface ProbeResult {
  status: number;
  body: string;
}

/** GET a URL; resolves with the status and body, rejects on connection errors and timeouts. */
export function get(url: string, tls?: TlsClient, timeoutMs = 2_000): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    const options = { method: "GET", timeout: timeoutMs, ...(tls ?? {}) };
    const request = (url.startsWith("https:") ? httpsRequest : httpRequest)(url, options, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        body += chunk;
      });
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
      response.on("error", reject);
    });
    request.on("timeout", () =>
      request.destroy(
        Object.assign(new Error(`GET ${url} timed out after ${timeoutMs} ms`), { code: "ERR_TIMEOUT" }),
      ),
    );
    request.on("error", reject);
    request.end();
  });
}

// Connection-level failures mean "not up (yet)"; anything else is a bug and is thrown.
const NOT_UP_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EPROTO", "ERR_TIMEOUT"]);

/** True when GET answers 200; false while the endpoint refuses, resets or times out. */
export async function isHealthy(url: string, tls?: TlsClient): Promise<boolean> {
  try {
    return (await get(url, tls)).status === 200;
  } catch (error) {
    if (error instanceof Error && NOT_UP_CODES.has((error as NodeJS.ErrnoException).code ?? "")) return false;
    throw error;
  }
}

export interface WaitOptions {
  what: string;
  timeoutMs: number;
  intervalMs?: number;
  /** Checked each round: throws early (e.g. "the process exited") instead of waiting out the deadline. */
  stillPossible?: () => Promise<void>;
}

/** Polls until the check returns a value other than undefined. */
export async function waitUntil<T>(check: () => Promise<T | undefined>, options: WaitOptions): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    await options.stillPossible?.();
    if (Date.now() > deadline)
      throw new Error(`timed out after ${options.timeoutMs / 1000}s waiting for ${options.what}`);
    await sleep(options.intervalMs ?? 250);
  }
}
