// POST /mutate: decode, decide, hand the workload to the reconciler, answer. Nothing here waits on
// I/O: the reconcile queue's enqueue returns at once and the reconciler does the slow part later.

import { decodeReview, reviewFor } from "../core/admission.ts";
import type { ReconcileHandoff } from "../core/handoff.ts";
import { mutate } from "../core/mutate.ts";
import { type AdmissionMetrics, kindLabel, operationLabel } from "../metrics.ts";
import type { ErrorBody } from "./errors.ts";
import type { App } from "./fastify-app.ts";

const MUTATE_PATH = "/mutate";
/** Where the namespace webhook entry (namespaceSelector on the opt-in label, or the cluster default) calls. */
const MUTATE_NAMESPACE_PATH = "/mutate/namespace";

export interface MutateRouteDeps {
  queue: ReconcileHandoff;
  metrics: AdmissionMetrics;
}

export function registerMutateRoute(app: App, { queue, metrics }: MutateRouteDeps): void {
  // Synchronous: nothing here awaits, and a returned promise would cost a microtask per admission.
  const routes = [
    [MUTATE_PATH, false],
    [MUTATE_NAMESPACE_PATH, true],
  ] as const;
  for (const [path, namespaceSelected] of routes)
    app.post(path, (request, reply) => {
      const started = performance.now();
      const decoded = decodeReview(request.body);
      if (!decoded.ok) {
        request.log.info({ status: 400, reason: decoded.reason }, "bad request");
        reply.code(400).send({ error: decoded.reason } satisfies ErrorBody);
        return undefined;
      }
      const admission = decoded.request;
      const result = mutate(admission, { namespaceSelected });
      // NoneOnDryRun: a dry run must leave no trace, not even a queued reconcile.
      if (admission.dryRun !== true && result.reconcile !== undefined) queue.enqueue(result.reconcile);
      const review = reviewFor(admission, result);
      const seconds = (performance.now() - started) / 1000;

      metrics.duration.observe(seconds);
      metrics.requests.inc({
        kind: kindLabel(result.kind),
        operation: operationLabel(admission.operation),
        outcome: result.outcome,
      });
      if (result.warnings.length > 0) metrics.warnings.inc(result.warnings.length);
      request.log.info(
        {
          uid: admission.uid,
          kind: result.kind,
          namespace: admission.namespace,
          name: admission.name,
          operation: admission.operation,
          outcome: result.outcome,
          dryRun: admission.dryRun === true,
          warnings: result.warnings.length,
          durationMs: Math.round(seconds * 1e6) / 1e3,
        },
        "admission",
      );
      return review;
    });

  app.route({
    method: ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"],
    url: MUTATE_PATH,
    handler: async (request, reply) =>
      reply
        .code(405)
        .header("allow", "POST")
        .send({
          error: `method ${request.method} is not allowed on ${MUTATE_PATH}; use POST`,
        } satisfies ErrorBody),
  });

  // Every 4xx on /mutate, whichever layer produced it (parser, body limit, decoding, method).
  // Callback style: an async hook would allocate a promise on every request of every route.
  app.addHook("onResponse", (request, reply, done) => {
    if (
      (request.routeOptions.url === MUTATE_PATH || request.routeOptions.url === MUTATE_NAMESPACE_PATH) &&
      reply.statusCode >= 400 &&
      reply.statusCode < 500
    ) {
      metrics.badRequests.inc({ status: String(reply.statusCode) });
    }
    done();
  });
}
