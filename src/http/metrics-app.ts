// /metrics on its own HTTPS port, apart from /mutate: the admission port must be reachable by the
// apiserver, the metrics port only by whoever scrapes, and each can be opened to its own callers
// (NetworkPolicy, Service). With an authorizer, every request needs a bearer token that the
// authorizer allows (401 without or with an unknown token, 403 when not allowed, 503 when it
// cannot tell); without one, /metrics is served to anyone who reaches the port.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Server } from "node:https";
import { type FastifyBaseLogger, type FastifyInstance, fastify, LogController } from "fastify";
import type { Registry } from "prom-client";
import type { Logger } from "../log.ts";
import type { ErrorBody } from "./errors.ts";
import { bearerToken, type TokenAuthorizer } from "./metrics-auth.ts";
import { secureContextOptions, type TlsMaterial } from "./tls.ts";

export const METRICS_PATH = "/metrics";

export interface MetricsAppDeps {
  registry: Registry;
  logger: Logger;
  tls: TlsMaterial;
  /** Who may read; undefined serves everyone (the chart's metrics.secure: false). */
  authorize: TokenAuthorizer | undefined;
}

export type MetricsApp = FastifyInstance<Server, IncomingMessage, ServerResponse, FastifyBaseLogger>;

export function buildMetricsApp(deps: MetricsAppDeps): MetricsApp {
  const logger: FastifyBaseLogger = deps.logger.child({ component: "metrics" });
  const app = fastify({
    https: secureContextOptions(deps.tls),
    loggerInstance: logger,
    logController: new LogController({ disableRequestLogging: true }),
    // No request carries a body here; a scrape answers in milliseconds.
    bodyLimit: 1024,
    requestTimeout: 10_000,
    forceCloseConnections: true,
  });
  const { authorize, registry } = deps;
  app.get(METRICS_PATH, async (request, reply) => {
    if (authorize !== undefined) {
      const token = bearerToken(request.headers.authorization);
      if (token === undefined)
        return reply
          .code(401)
          .header("www-authenticate", 'Bearer realm="prepull metrics"')
          .send({ error: "a bearer token is required" } satisfies ErrorBody);
      let decision: Awaited<ReturnType<TokenAuthorizer>>;
      try {
        decision = await authorize(token);
      } catch (error) {
        request.log.warn({ err: error }, "cannot authorize a metrics request");
        return reply.code(503).send({ error: "cannot authorize the request now" } satisfies ErrorBody);
      }
      if (decision === "unauthenticated")
        return reply.code(401).send({ error: "the bearer token is not valid" } satisfies ErrorBody);
      if (decision === "forbidden")
        return reply.code(403).send({ error: `not allowed to get ${METRICS_PATH}` } satisfies ErrorBody);
    }
    const text = await registry.metrics();
    return reply.type(registry.contentType).send(text);
  });
  return app;
}
