// The bench's control: the smallest fastify server a team would write to answer AdmissionReviews,
// over HTTPS (or plain HTTP with BARE_PLAIN=1, for the TLS share). It parses the body with
// fastify's own JSON parser and answers a constant allow echoing request.uid. It imports the same
// libraries prepull loads at start-up, so an RSS ratio compares prepull's own work, not its
// dependencies' code size.
//
//   PORT=8443 TLS_CERT_FILE=… TLS_KEY_FILE=… node bench/control/bare-server.ts
import { readFileSync } from "node:fs";
import { fastify } from "fastify";

// Loaded, not used: prepull's process holds these modules (and their heap) too.
await Promise.all([import("@kubernetes/client-node"), import("pino"), import("prom-client")]);

const port = Number(process.env.PORT ?? "8443");
const plain = process.env.BARE_PLAIN === "1";
const https = plain
  ? null
  : {
      cert: readFileSync(process.env.TLS_CERT_FILE ?? ""),
      key: readFileSync(process.env.TLS_KEY_FILE ?? ""),
      minVersion: "TLSv1.2" as const,
    };

const app = fastify({ https, bodyLimit: 7 * 1024 * 1024, keepAliveTimeout: 120_000 });

interface Review {
  request?: { uid?: string };
}

app.post("/mutate", async (request) => ({
  apiVersion: "admission.k8s.io/v1",
  kind: "AdmissionReview",
  response: { uid: (request.body as Review).request?.uid ?? "", allowed: true },
}));
app.get("/readyz", async () => ({ status: "ready" }));

await app.listen({ host: "127.0.0.1", port });
process.on("SIGTERM", () => {
  app.close().then(() => process.exit(0));
});
