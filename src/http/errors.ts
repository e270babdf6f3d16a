// Every failure a client can cause becomes a 4xx with a JSON body naming the problem; only a bug
// in prepull itself is a 500. The apiserver logs the body of a failed webhook call, so the reason
// is what an operator reads when a request was malformed.
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import type { App } from "./fastify-app.ts";

export interface ErrorBody {
  error: string;
}

/** A rejection with a status of our choosing; fastify reads statusCode. */
export class ClientError extends Error {
  readonly statusCode: number;

  constructor(statusCode: number, message: string) {
    super(message);
    this.name = "ClientError";
    this.statusCode = statusCode;
  }
}

function clientMessage(error: FastifyError, request: FastifyRequest, bodyLimit: number): string {
  switch (error.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return `request body exceeds the limit of ${bodyLimit} bytes`;
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return `unsupported content type ${JSON.stringify(request.headers["content-type"] ?? "")}; send application/json`;
    default:
      return error.message;
  }
}

function isClientStatus(status: unknown): status is number {
  return typeof status === "number" && status >= 400 && status < 500;
}

export function registerErrorHandling(app: App, bodyLimit: number): void {
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (isClientStatus(error.statusCode)) {
      const message = clientMessage(error, request, bodyLimit);
      request.log.info({ status: error.statusCode, reason: message, url: request.url }, "bad request");
      return reply.code(error.statusCode).send({ error: message } satisfies ErrorBody);
    }
    request.log.error({ err: error, url: request.url }, "request failed");
    return reply.code(500).send({ error: "internal error in prepull; see its log" } satisfies ErrorBody);
  });

  app.setNotFoundHandler((request, reply) => {
    const target = `${request.method} ${request.url}`.slice(0, 200);
    return reply.code(404).send({ error: `no such endpoint: ${target}` } satisfies ErrorBody);
  });
}
