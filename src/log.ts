// One structured JSON logger for the whole process, created by the composition root and handed
// to fastify (as its loggerInstance) and to every adapter that logs.
import { type DestinationStream, type Logger, pino } from "pino";
import type { LogLevel } from "./config.ts";

export type { Logger };

/** `destination` defaults to stdout; tests pass a stream to read what was logged. */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const options = { level, base: { service: "prepull" } };
  return destination === undefined ? pino(options) : pino(options, destination);
}
