// A small HTTPS client for tests: real TLS requests on loopback, with the details tests assert on
// (status, headers, body, which local port carried the request, which certificate was presented).
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import { type Agent, request } from "node:https";
import { connect as netConnect } from "node:net";
import { type TLSSocket, connect as tlsConnect } from "node:tls";

export interface HttpsReply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** Local port of the connection that carried the request: equal ports mean a reused connection. */
  localPort: number | undefined;
  peerFingerprint256: string;
}

export interface HttpsRequest {
  port: number;
  ca: string | string[];
  path: string;
  method?: string;
  headers?: OutgoingHttpHeaders;
  body?: string | Buffer;
  agent?: Agent;
}

export function send(options: HttpsRequest): Promise<HttpsReply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: options.port,
        path: options.path,
        method: options.method ?? "GET",
        headers: options.headers,
        ca: options.ca,
        // An explicit agent keeps connections alive; without one, every request is a fresh connection.
        agent: options.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        const socket = res.socket as TLSSocket;
        const localPort = socket.localPort;
        const peerFingerprint256 = socket.getPeerCertificate().fingerprint256;
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", reject);
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString("utf8"),
            localPort,
            peerFingerprint256,
          }),
        );
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

export function postJson(
  port: number,
  ca: string | string[],
  body: unknown,
  agent?: Agent,
): Promise<HttpsReply> {
  return send({
    port,
    ca,
    agent,
    path: "/mutate",
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/** The fingerprint of the certificate a fresh TLS connection is offered. */
export function presentedFingerprint(port: number, ca: string | string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: "127.0.0.1", port, ca, servername: "localhost" }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.end();
      resolve(fingerprint);
    });
    socket.on("error", reject);
  });
}

/** Resolves true when nothing accepts TCP connections on the port any more. */
export function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: "127.0.0.1", port });
    socket.on("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "ECONNREFUSED") resolve(true);
      else reject(error);
    });
  });
}

/** Poll until `probe` returns a value other than undefined/false, or fail after the deadline. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
