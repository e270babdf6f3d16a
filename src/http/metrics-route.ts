import type { Registry } from "prom-client";
import type { App } from "./app.ts";

export function registerMetricsRoute(app: App, registry: Registry): void {
  app.get("/metrics", async (_request, reply) => {
    const text = await registry.metrics();
    return reply.type(registry.contentType).send(text);
  });
}
