// Probes. Alive means the event loop answers; ready means the certificate is loaded and the
// listener accepts connections. Neither asks the API server: admission must keep working (and
// the pod must stay in the Service) when the control plane is slow or unreachable.
import type { App } from "./fastify-app.ts";

export function registerHealthRoutes(app: App, isServing: () => boolean): void {
  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_request, reply) => {
    if (isServing()) return { status: "ready" };
    return reply.code(503).send({ status: "not ready", error: "not listening (starting or shutting down)" });
  });
}
