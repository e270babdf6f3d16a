// The last check before a write leaves this process: whether the leader may still write.
//
// Checking leadership in our own code before a request is not enough. A request that passed the
// check can wait inside undici's connection pool (behind another request on the one keep-alive
// connection, or for a connection to open). If the process is frozen there (SIGSTOP, a VM pause, a
// long GC) past its lease, undici sends it from its own I/O callback the moment the process runs
// again, before any of our code or timers run, and it lands after a successor took the Lease. So
// the check runs in undici's `onRequestStart`, which the connection calls synchronously right
// before it writes the request line to the socket; the clock behind `mayWrite` is monotonic, so a
// frozen process sees the time it lost. Reads are never fenced.
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
    return dispatch(options, fenced(handler, mayWrite));
  };
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
