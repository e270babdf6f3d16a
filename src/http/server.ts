// Starting and stopping the built app: listen, keep the certificate fresh, drain on close.
import type { Socket } from "node:net";
import type { Logger } from "../log.ts";
import type { App } from "./fastify-app.ts";
import {
  secureContextOptions,
  type TlsFiles,
  type TlsMaterial,
  type TlsReloader,
  watchTlsFiles,
} from "./tls.ts";

export interface ServeOptions {
  host: string;
  port: number;
  tlsFiles: TlsFiles;
  /** The material the app was built with. */
  tls: TlsMaterial;
  log: Logger;
  /** Fallback certificate check interval (the directory watch is the fast path). */
  tlsPollIntervalMs?: number;
}

export interface RunningServer {
  /** The bound port (useful when asked for port 0). */
  port: number;
  /** Stop accepting, let in-flight requests finish, then resolve. */
  close(): Promise<void>;
  /** Cut every connection at once: the shutdown deadline has passed. */
  destroyConnections(): void;
}

/** While draining, how often connections that never carried a request are looked at. */
const SPARE_SWEEP_MS = 100;

/**
 * Connections that have not carried a request yet. Node's closeIdleConnections() leaves them open
 * (it counts a connection as busy from its start until its first request, which is how
 * headersTimeout reaches it) and server.close() stops the timer that would reap them. A client's
 * spare connection (the apiserver's HTTP client dials ahead and keeps spares for 90 s) would then
 * hold the drain open until the shutdown deadline.
 */
function spareConnections(app: App): { closeWhileDraining(): () => void } {
  const unused = new Set<Socket>();
  app.server.on("secureConnection", (socket: Socket) => {
    unused.add(socket);
    socket.once("close", () => unused.delete(socket));
  });
  app.server.on("request", (request) => unused.delete(request.socket));
  return {
    /**
     * Closes each connection that is still unused at two sweeps in a row, so one whose first
     * request is on its way (it connected just now) is not cut. Returns the stop function.
     */
    closeWhileDraining() {
      let seen = new Set<Socket>();
      const sweep = () => {
        for (const socket of seen) if (unused.has(socket)) socket.destroy();
        seen = new Set(unused);
      };
      sweep();
      const timer = setInterval(sweep, SPARE_SWEEP_MS);
      return () => clearInterval(timer);
    },
  };
}

export async function serve(app: App, options: ServeOptions): Promise<RunningServer> {
  const spares = spareConnections(app);
  await app.listen({ host: options.host, port: options.port });
  const reloader: TlsReloader = watchTlsFiles({
    files: options.tlsFiles,
    current: options.tls,
    apply: (material) => app.server.setSecureContext(secureContextOptions(material)),
    log: options.log,
    pollIntervalMs: options.tlsPollIntervalMs,
  });
  const address = app.server.address();
  // A TCP listener always has an AddressInfo; a string would mean a pipe, which we never open.
  if (address === null || typeof address === "string")
    throw new Error(`unexpected listen address ${address}`);
  return {
    port: address.port,
    async close() {
      reloader.close();
      const closed = app.close();
      const stopSweeping = spares.closeWhileDraining();
      try {
        await closed;
      } finally {
        stopSweeping();
      }
    },
    destroyConnections() {
      app.server.closeAllConnections();
    },
  };
}
