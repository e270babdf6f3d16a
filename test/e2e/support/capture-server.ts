// A webhook endpoint that records every AdmissionReview the apiserver sends and allows it
// unchanged: how the fixtures under test/fixtures/admission-reviews/ are captured from a real
// apiserver instead of being written by hand.
import { readFile, rm } from "node:fs/promises";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { type ServingTls, throwawayServingTls } from "./tls.ts";

interface CapturedReview {
  request?: {
    uid?: string;
    name?: string;
    namespace?: string;
    operation?: string;
    dryRun?: boolean;
    userInfo?: { username?: string };
  };
  [key: string]: unknown;
}

export interface CaptureServer {
  baseUrl: string;
  caBundle: string;
  namespace: string;
  reviews: CapturedReview[];
  admissionRequests(): Promise<number>;
  close(): Promise<void>;
}

export async function startCaptureServer(releaseNamespace: string): Promise<CaptureServer> {
  const tls: ServingTls = await throwawayServingTls();
  const reviews: CapturedReview[] = [];
  const server = createServer(
    { cert: await readFile(tls.serving.cert), key: await readFile(tls.serving.key) },
    (request, response) => {
      let body = "";
      request.setEncoding("utf8");
      request.on("data", (chunk: string) => {
        body += chunk;
      });
      request.on("end", () => {
        const review = JSON.parse(body) as CapturedReview & { apiVersion?: string; kind?: string };
        reviews.push(review);
        response.setHeader("content-type", "application/json");
        response.end(
          JSON.stringify({
            apiVersion: review.apiVersion,
            kind: review.kind,
            response: { uid: review.request?.uid, allowed: true },
          }),
        );
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `https://127.0.0.1:${port}`,
    caBundle: tls.caBundle,
    namespace: releaseNamespace,
    reviews,
    admissionRequests: async () => reviews.length,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(tls.dir, { recursive: true, force: true });
    },
  };
}
