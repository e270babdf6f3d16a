// Starting and stopping the built app: listen, keep the certificate fresh, drain on close.
import type { Logger } from "../log.ts";
import type { App } from "./app.ts";
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

export async function serve(app: App, options: ServeOptions): Promise<RunningServer> {
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
      await app.close();
    },
    destroyConnections() {
      app.server.closeAllConnections();
    },
  };
}
