// One structured JSON logger for the whole process, created by the composition root and handed
// to fastify (as its loggerInstance) and to every adapter that logs.
import { type DestinationStream, type Logger, pino } from "pino";
import type { LogLevel } from "./config-parsers.ts";

export type { Logger };

/**
 * stdout is written in batches of about this many bytes (a dozen admission lines) rather than one
 * write per line: under load, one write per admission cost more CPU than deciding the admission.
 */
const LOG_BATCH_BYTES = 4096;
/** A batch that has not filled is written after at most this long, so a quiet server's lines still appear promptly. */
const LOG_FLUSH_INTERVAL_MS = 250;

/**
 * `destination` defaults to stdout, batched; pino flushes the batch synchronously when the process
 * exits (process.exit included), so only a SIGKILL can lose the lines of the last quarter second.
 * Tests pass a stream to read what was logged.
 */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const options = { level, base: { service: "prepull" } };
  const stream =
    destination ??
    pino.destination({ dest: 1, minLength: LOG_BATCH_BYTES, periodicFlush: LOG_FLUSH_INTERVAL_MS });
  return pino(options, stream);
}
