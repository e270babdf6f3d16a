// An HTTP proxy on loopback in front of the test registry. It limits what flows from the
// registry to its clients to one shared rate, like the one link a node pulls through: a cold pull
// of a large image then takes as long as it would from a real registry instead of loopback's
// gigabytes per second.
//
// It also completes open-ended ranges. containerd resumes an interrupted blob download (a
// restarted containerd finds the partial ingest) with `Range: bytes=N-`, which RFC 9110 allows
// and real registries serve; crane's registry understands only `bytes=N-M` and answers 416, so
// every retry fails and the pull never completes. The proxy asks the registry for the blob's size
// (HEAD) and forwards `bytes=N-(size-1)`.
//
//   node scripts/cluster/real-node/throttle-proxy.ts --listen PORT --target PORT --bytes-per-second N --plane DIR
//
// `--plane` only marks the process as this plane's, so `cluster:down` finds and stops it.
import { Agent, createServer, type IncomingHttpHeaders, request, type Server } from "node:http";
import { Transform, type TransformCallback } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";

/** Largest piece passed on at once: keeps the pacing smooth at low rates. */
const SLICE_BYTES = 64 * 1024;
/** How far ahead of the rate a quiet link may burst. */
const BURST_SECONDS = 0.05;

/**
 * One shared budget: each slice reserves its transfer time on a virtual clock, so several
 * connections together never exceed the rate (a virtual-finish-time limiter).
 */
export class SharedRate {
  #nextFreeMs = 0;
  readonly #bytesPerSecond: number;
  readonly #now: () => number;
  constructor(bytesPerSecond: number, now: () => number = () => performance.now()) {
    this.#bytesPerSecond = bytesPerSecond;
    this.#now = now;
  }

  /** Milliseconds to wait before sending `bytes`. */
  reserve(bytes: number): number {
    const now = this.#now();
    const start = Math.max(this.#nextFreeMs, now - BURST_SECONDS * 1000);
    this.#nextFreeMs = start + (bytes / this.#bytesPerSecond) * 1000;
    return Math.max(0, start - now);
  }
}

function throttled(rate: SharedRate): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
      (async () => {
        for (let offset = 0; offset < chunk.length; offset += SLICE_BYTES) {
          const slice = chunk.subarray(offset, offset + SLICE_BYTES);
          const waitMs = rate.reserve(slice.length);
          if (waitMs > 0) await sleep(waitMs);
          this.push(slice);
        }
      })().then(() => done(), done);
    },
  });
}

/** N of `bytes=N-` (an open-ended range); undefined for anything else, which passes unchanged. */
export function openRangeStart(range: string | undefined): number | undefined {
  const match = /^bytes=(\d+)-$/.exec(range?.trim() ?? "");
  return match ? Number(match[1]) : undefined;
}

/** `bytes=start-(size-1)`, or undefined when the range cannot be satisfied (start past the end). */
export function closeRange(start: number, size: number): string | undefined {
  return start < size ? `bytes=${start}-${size - 1}` : undefined;
}

function contentLength(
  targetPort: number,
  agent: Agent,
  path: string,
  headers: IncomingHttpHeaders,
): Promise<number | undefined> {
  const { range: _range, ...rest } = headers;
  return new Promise((resolve, reject) => {
    const head = request(
      { host: "127.0.0.1", port: targetPort, method: "HEAD", path, headers: rest, agent },
      (answer) => {
        answer.resume();
        const length = Number(answer.headers["content-length"]);
        resolve(answer.statusCode === 200 && Number.isInteger(length) ? length : undefined);
      },
    );
    head.on("error", reject);
    head.end();
  });
}

function port(name: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`--${name} must be a port, got "${value}"`);
  return n;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      listen: { type: "string" },
      target: { type: "string" },
      "bytes-per-second": { type: "string" },
      plane: { type: "string" },
    },
  });
  const listenPort = port("listen", values.listen);
  const targetPort = port("target", values.target);
  const bytesPerSecond = Number(values["bytes-per-second"]);
  if (!Number.isFinite(bytesPerSecond) || bytesPerSecond <= 0)
    throw new Error(`--bytes-per-second must be a positive number, got "${values["bytes-per-second"]}"`);
  const server = throttleProxy(targetPort, new SharedRate(bytesPerSecond));
  server.listen(listenPort, "127.0.0.1", () => {
    console.log(
      `throttle-proxy: 127.0.0.1:${listenPort} -> 127.0.0.1:${targetPort} at ${bytesPerSecond} B/s`,
    );
  });
  for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => process.exit(0));
}

/** The proxy to the registry on `targetPort` (loopback), not yet listening. */
export function throttleProxy(targetPort: number, rate: SharedRate): Server {
  const agent = new Agent({ keepAlive: true });
  return createServer((client, reply) => {
    (async () => {
      const headers = { ...client.headers };
      const open = openRangeStart(headers.range);
      if (open !== undefined) {
        const size = await contentLength(targetPort, agent, client.url ?? "/", client.headers);
        const closed = size === undefined ? undefined : closeRange(open, size);
        if (closed === undefined) {
          reply.writeHead(416, { "content-range": `bytes */${size ?? "*"}` }).end();
          return;
        }
        headers.range = closed;
      }
      const upstream = request(
        { host: "127.0.0.1", port: targetPort, method: client.method, path: client.url, headers, agent },
        (answer) => {
          reply.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(throttled(rate)).pipe(reply);
        },
      );
      upstream.on("error", (error) => reply.destroy(error));
      client.pipe(upstream);
    })().catch((error: unknown) => reply.destroy(error as Error));
  });
}

if (import.meta.main) main();
