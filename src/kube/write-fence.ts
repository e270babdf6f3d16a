// The last check before a write leaves this process: whether the leader may still write.
//
// Checking leadership in our own code before a request is not enough. A request that passed the
// check can wait inside undici's connection pool (behind another request on the one keep-alive
// connection, or for a connection to open). If the process is frozen there (SIGSTOP, a VM pause, a
// long GC) past its lease, undici sends it from its own I/O callback the moment the process runs
// again, before any of our code or timers run, and it lands after a successor took the Lease. So
// the check runs in undici's `onRequestStart`, which the connection calls synchronously right
// before it writes the request; the clock behind `mayWrite` is monotonic, so a frozen process sees
// the time it lost. fetch hands undici the body as an async iterable, and undici writes the
// request line and headers together with its first chunk, a few microtasks after
// `onRequestStart`: a freeze in that gap would send the write on resume (test/kube/write-fence.test.ts).
// So the check runs again as each body chunk is handed over, right before it is written. Reads
// are never fenced.
import type { Dispatcher } from "undici";

/** A write refused because this replica no longer leads: it was never sent. */
export class NotLeaderError extends Error {
  constructor() {
    super("not the leader any more: write not sent");
    this.name = "NotLeaderError";
  }
}

const WRITE_METHODS: ReadonlySet<string> = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** An undici interceptor that aborts a write at the socket when `mayWrite()` is false. */
export function writeFence(mayWrite: () => boolean): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (options, handler) => {
    if (!WRITE_METHODS.has(String(options.method).toUpperCase())) return dispatch(options, handler);
    const request: Started = {};
    return dispatch(
      { ...options, body: fencedBody(options.body, mayWrite, request) },
      fenced(handler, mayWrite, request),
    );
  };
}

/** The request's controller, once the connection has started it: the body's check aborts through it. */
interface Started {
  controller?: Dispatcher.DispatchController;
}

type Body = Dispatcher.DispatchOptions["body"];

/** A streamed body whose every chunk is handed over only while `mayWrite()` holds. */
function fencedBody(body: Body, mayWrite: () => boolean, request: Started): Body {
  if (body === null || body === undefined || typeof body === "string" || body instanceof Uint8Array)
    return body; // written at once, right after onRequestStart
  if (!(Symbol.asyncIterator in body)) return body;
  const chunks = body as AsyncIterable<Buffer | Uint8Array | string>;
  return (async function* () {
    for await (const chunk of chunks) {
      if (!mayWrite()) {
        // Aborting errors the request and closes the connection before anything is written (an
        // error thrown from here would leave the request hanging until its timeout).
        request.controller?.abort(new NotLeaderError());
        return;
      }
      yield chunk;
    }
  })() as unknown as Body;
}

function fenced(
  handler: Dispatcher.DispatchHandler,
  mayWrite: () => boolean,
  request: Started,
): Dispatcher.DispatchHandler {
  return new Proxy(handler, {
    get(target, key) {
      if (key === "onRequestStart") {
        return (controller: Dispatcher.DispatchController, context: unknown) => {
          request.controller = controller;
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
