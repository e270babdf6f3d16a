// The fastify instance type the admission app is built as (HTTPS), shared by app.ts and the route
// files it registers, so that no route file imports app.ts back.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Server } from "node:https";
import type { FastifyBaseLogger, FastifyInstance } from "fastify";

export type App = FastifyInstance<Server, IncomingMessage, ServerResponse, FastifyBaseLogger>;
