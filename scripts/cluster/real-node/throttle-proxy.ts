// A TCP proxy on loopback that limits what flows from the registry to its clients to one shared
// rate, like the one link a node pulls through: a cold pull of a large image then takes as long
// as it would from a real registry instead of loopback's gigabytes per second.
//
//   node scripts/cluster/real-node/throttle-proxy.ts --listen PORT --target PORT --bytes-per-second N --plane DIR
//
// `--plane` only marks the process as this plane's, so `cluster:down` finds and stops it.
import { connect, createServer, type Socket } from "node:net";
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
  const rate = new SharedRate(bytesPerSecond);

  const server = createServer((client: Socket) => {
    const upstream = connect(targetPort, "127.0.0.1");
    const closeBoth = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", closeBoth);
    upstream.on("error", closeBoth);
    client.pipe(upstream);
    upstream.pipe(throttled(rate)).pipe(client);
  });
  server.listen(listenPort, "127.0.0.1", () => {
    console.log(
      `throttle-proxy: 127.0.0.1:${listenPort} -> 127.0.0.1:${targetPort} at ${bytesPerSecond} B/s`,
    );
  });
  for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => process.exit(0));
}

if (import.meta.main) main();
