// The admission HTTPS application (/mutate and the probes; /metrics has its own app and port,
// see metrics-app.ts), built but never started: tests and the bench listen on loopback,
// main listens on the configured address. Nothing here reads configuration or process state.
import { type FastifyBaseLogger, fastify, LogController } from "fastify";
import type { Registry } from "prom-client";
import type { ReconcileHandoff } from "../core/handoff.ts";
import type { Logger } from "../log.ts";
import { createAdmissionMetrics } from "../metrics.ts";
import { ClientError, registerErrorHandling } from "./errors.ts";
import type { App } from "./fastify-app.ts";
import { registerHealthRoutes } from "./health.ts";
import { parseJsonBody } from "./json-body.ts";
import { registerMutateRoute } from "./mutate-route.ts";
import { secureContextOptions, type TlsMaterial } from "./tls.ts";

/**
 * The apiserver caps objects near 3 MiB; an AdmissionReview carries object and oldObject, so
 * 7 MiB admits every legitimate review and refuses anything larger with a 413.
 */
const BODY_LIMIT_BYTES = 7 * 1024 * 1024;
/** Above the apiserver's 90 s idle timeout for webhook connections, so it always closes first. */
const KEEP_ALIVE_TIMEOUT_MS = 120_000;
/** The apiserver's webhook timeout is at most 30 s (default 10 s); nothing legitimate is slower. */
const REQUEST_TIMEOUT_MS = 10_000;

export interface AppDeps {
  registry: Registry;
  queue: ReconcileHandoff;
  logger: Logger;
  tls: TlsMaterial;
}

export function buildApp(deps: AppDeps): App {
  const logger: FastifyBaseLogger = deps.logger;
  const app = fastify({
    https: secureContextOptions(deps.tls),
    loggerInstance: logger,
    // The admission log line carries everything; per-request lines would only repeat it.
    logController: new LogController({ disableRequestLogging: true }),
    // No per-request child logger: fastify's would add only its own request counter (reqId), at
    // the price of a pino child per admission. The admission line carries request.uid, the id the
    // apiserver's own logs and audit events use.
    childLoggerFactory: (logger) => logger,
    bodyLimit: BODY_LIMIT_BYTES,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    requestTimeout: REQUEST_TIMEOUT_MS,
    // While draining, answer what still arrives on open connections rather than 503: an answered
    // admission beats one the apiserver has to ignore. Fastify and Node mark those responses
    // Connection: close, so draining ends when the in-flight requests do.
    return503OnClosing: false,
    forceCloseConnections: "idle",
  });
  app.server.headersTimeout = REQUEST_TIMEOUT_MS;

  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, (_request, body, done) => {
    // parseAs "buffer" always hands over a Buffer; fastify's type is the union of both modes.
    const parsed = parseJsonBody(typeof body === "string" ? Buffer.from(body) : body);
    if (parsed.ok) done(null, parsed.value);
    else done(new ClientError(400, parsed.reason), undefined);
  });

  registerErrorHandling(app, BODY_LIMIT_BYTES);
  registerMutateRoute(app, { queue: deps.queue, metrics: createAdmissionMetrics(deps.registry, deps.queue) });
  registerHealthRoutes(app, () => app.server.listening);
  return app;
}
