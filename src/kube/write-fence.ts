// The last check before a write leaves this process: whether the leader may still write.
//
// Checking leadership in our own code before a request is not enough. A request that passed the
// check can wait inside undici's connection pool (behind another request on the one keep-alive
// connection, or for a connection to open). If the process is frozen there (SIGSTOP, a VM pause, a
// long GC) past its lease, undici sends it from its own I/O callback the moment the process runs
// again, before any of our code or timers run, and it lands after a successor took the Lease. So
// the check runs in undici's `onRequestStart`, which the connection calls synchronously right
// before it writes the request; the clock behind `mayWrite` is monotonic, so a frozen process sees
// the time it lost.
//
// The request must then be written in that same synchronous step, and two things stood in the way
// (both found by test/e2e/faults-freeze.test.ts, each in about 1 run in 3 to 9):
// - fetch hands undici every body as a stream, written chunk by chunk after `onRequestStart` has
//   returned. So the fence reads a streamed write body into one buffer before it hands the request
//   on; undici writes a buffer in the same call that asked `onRequestStart`.
// - Over HTTP/2, node:http2 queues a request's frames and writes them later in the event loop. So
//   the fenced client speaks HTTP/1.1 (kube/rest.ts), where undici writes to the TLS socket at once.
// Reads are never fenced.
import type { Dispatcher } from "undici";

/** A write refused because this replica no longer leads: it was never sent. */
export class NotLeaderError extends Error {
  constructor() {
    super("not the leader any more: write not sent");
    this.name = "NotLeaderError";
  }
}

const WRITE_METHODS: ReadonlySet<string> = new Set(["POST", "PUT", "PATCH", "DELETE"]);

type Body = Dispatcher.DispatchOptions["body"];
type Chunk = Buffer | Uint8Array | string;

/** An undici interceptor that aborts a write at the socket when `mayWrite()` is false. */
export function writeFence(mayWrite: () => boolean): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (options, handler) => {
    if (!WRITE_METHODS.has(String(options.method).toUpperCase())) return dispatch(options, handler);
    const guarded = fenced(handler, mayWrite);
    const { body } = options;
    if (!isStreamed(body)) return dispatch(options, guarded);
    // Dispatched once the body is in memory (an interceptor may dispatch later, as undici's own
    // DNS interceptor does after its lookup). Kubernetes request bodies are small JSON documents.
    readAll(body).then(
      (buffer) => {
        try {
          dispatch({ ...options, body: buffer }, guarded);
        } catch (error) {
          refuse(handler, error);
        }
      },
      (error: unknown) => refuse(handler, error),
    );
    return true;
  };
}

/** A body undici would write chunk by chunk, after `onRequestStart` has returned (fetch's, a Readable). */
function isStreamed(body: Body): body is Body & AsyncIterable<Chunk> {
  return typeof body === "object" && body !== null && Symbol.asyncIterator in body;
}

async function readAll(body: AsyncIterable<Chunk>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** Fails a request that never reached a connection (undici's own interceptors pass no controller). */
function refuse(handler: Dispatcher.DispatchHandler, error: unknown): void {
  const reason = error instanceof Error ? error : new Error(String(error));
  handler.onResponseError?.(null as unknown as Dispatcher.DispatchController, reason);
}

function fenced(handler: Dispatcher.DispatchHandler, mayWrite: () => boolean): Dispatcher.DispatchHandler {
  return new Proxy(handler, {
    get(target, key) {
      if (key === "onRequestStart") {
        return (controller: Dispatcher.DispatchController, context: unknown) => {
          if (!mayWrite()) {
            controller.abort(new NotLeaderError());
            return;
          }
          return target.onRequestStart?.(controller, context);
        };
      }
      const value: unknown = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** fetch wraps a dispatch error in `TypeError("fetch failed")`; this finds the fence's refusal. */
export function notLeaderCause(error: unknown): NotLeaderError | undefined {
  for (let cause = error; cause instanceof Error; cause = cause.cause) {
    if (cause instanceof NotLeaderError) return cause;
  }
  return undefined;
}
