// A thin JSON client for the Kubernetes REST API, built on the KubeConfig's own authentication.
//
// Why not the generated typed clients: they deserialize into model classes (Date objects, renamed
// fields) while the watch stream delivers plain JSON, and the core works on plain JSON. They also
// need per-call middleware to send server-side apply's content type. Here every object stays
// exactly what the API server sent, and every verb prepull needs is one small function.
import type { AgentOptions } from "node:https";
import type { Cluster, KubeConfig } from "@kubernetes/client-node";
import { HttpMethod, IsomorphicFetchHttpLibrary, RequestContext } from "@kubernetes/client-node";
import { Agent, type Dispatcher, getGlobalDispatcher } from "undici";
import { isJsonObject, type JsonObject } from "../core/workload.ts";
import { notLeaderCause, writeFence } from "./write-fence.ts";

/** A non-2xx answer from the API server, with its Status reason when it sent one. */
export class KubeApiError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly method: string;
  readonly path: string;

  constructor(method: string, path: string, status: number, reason: string, message: string) {
    super(`${method} ${path}: ${status} ${reason}: ${message}`);
    this.name = "KubeApiError";
    this.status = status;
    this.reason = reason;
    this.method = method;
    this.path = path;
  }
}

export type Query = Record<string, string | undefined>;

export const CONTENT_TYPE = {
  json: "application/json",
  mergePatch: "application/merge-patch+json",
  jsonPatch: "application/json-patch+json",
  /** JSON is YAML, so an apply body can be sent as JSON under the YAML apply type. */
  apply: "application/apply-patch+yaml",
} as const;

/** Per call: an extra abort signal (the leader elector's deadline), beside the client's own timeout. */
export interface CallOptions {
  signal?: AbortSignal;
}

export interface RequestOptions extends CallOptions {
  query?: Query;
  body?: unknown;
  contentType?: string;
}

/** The client's own per-request timeout when none is configured; the reconciler sets its own. */
const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;

export interface KubeRestOptions {
  /**
   * Every request is aborted after this long, whatever the server does. undici's own default is
   * 300 s, longer than any lease: a hung request must never outlive a leader's renew deadline.
   */
  requestTimeoutMs?: number;
  /** Called once per request when it ends (watches are not requests here), for a counter. */
  onRequest?: (method: keyof typeof HttpMethod, outcome: "ok" | "error") => void;
  /**
   * When set, a write (POST, PUT, PATCH, DELETE) is sent only if this holds at the moment the
   * connection is about to send it; otherwise it fails with NotLeaderError, unsent. The leader's
   * writes use it; the Lease's own requests must not (write-fence.ts says why it sits so low).
   */
  mayWrite?: () => boolean;
}

export interface KubeRest {
  request(method: keyof typeof HttpMethod, path: string, options?: RequestOptions): Promise<JsonObject>;
  get(path: string, query?: Query, call?: CallOptions): Promise<JsonObject>;
  /** GET that answers undefined on 404 instead of throwing. */
  getOptional(path: string, query?: Query, call?: CallOptions): Promise<JsonObject | undefined>;
  /** Server-side apply: PATCH with the apply content type, a field manager and force. */
  apply(path: string, object: JsonObject, fieldManager: string): Promise<JsonObject>;
  mergePatch(path: string, patch: JsonObject, query?: Query): Promise<JsonObject>;
  create(path: string, object: JsonObject, call?: CallOptions): Promise<JsonObject>;
  replace(path: string, object: JsonObject, call?: CallOptions): Promise<JsonObject>;
  delete(path: string, options?: JsonObject): Promise<JsonObject>;
}

export function createKubeRest(kubeConfig: KubeConfig, clientOptions: KubeRestOptions = {}): KubeRest {
  const timeoutMs = clientOptions.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  if (!(Number.isFinite(timeoutMs) && timeoutMs > 0))
    throw new RangeError(`requestTimeoutMs must be a positive number of milliseconds, got ${timeoutMs}`);
  const http = new IsomorphicFetchHttpLibrary();
  const cluster = kubeConfig.getCurrentCluster();
  if (cluster === null) throw new Error("the kubeconfig has no current cluster");
  const server = cluster.server.replace(/\/+$/, "");
  // The KubeConfig builds a fresh connection pool (dispatcher) on every call, so each request
  // would open its own TLS connection. Keep the first one: TLS material in a kubeconfig or a
  // service account's CA does not change under a running process, while headers (tokens) are
  // still re-applied per request.
  let dispatcher: Promise<Dispatcher> | undefined;
  const dispatcherFor = async (context: RequestContext): Promise<Dispatcher> => {
    const { mayWrite } = clientOptions;
    if (mayWrite === undefined) return context.getDispatcher() ?? getGlobalDispatcher();
    const pool = (await http1Pool(kubeConfig, cluster)) ?? context.getDispatcher() ?? getGlobalDispatcher();
    return pool.compose(writeFence(mayWrite));
  };

  async function request(
    method: keyof typeof HttpMethod,
    path: string,
    options: RequestOptions = {},
  ): Promise<JsonObject> {
    try {
      const body = await send(method, path, options);
      clientOptions.onRequest?.(method, "ok");
      return body;
    } catch (error) {
      clientOptions.onRequest?.(method, "error");
      throw notLeaderCause(error) ?? error;
    }
  }

  async function send(
    method: keyof typeof HttpMethod,
    path: string,
    options: RequestOptions,
  ): Promise<JsonObject> {
    const context = new RequestContext(`${server}${path}`, HttpMethod[method]);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) context.setQueryParam(key, value);
    }
    context.setHeaderParam("Accept", CONTENT_TYPE.json);
    if (options.body !== undefined) {
      context.setHeaderParam("Content-Type", options.contentType ?? CONTENT_TYPE.json);
      context.setBody(JSON.stringify(options.body));
    }
    // Aborts connecting, waiting and reading the body alike; the caller's signal may cut it sooner.
    const timeout = AbortSignal.timeout(timeoutMs);
    context.setSignal(options.signal === undefined ? timeout : AbortSignal.any([timeout, options.signal]));
    // Re-applied per request: an in-cluster token file rotates and is re-read here.
    await kubeConfig.applySecurityAuthentication(context);
    dispatcher ??= dispatcherFor(context);
    context.setDispatcher(await dispatcher);
    const response = await http.send(context).toPromise();
    const text = await response.body.text();
    const parsed = parseJson(text);
    if (response.httpStatusCode < 200 || response.httpStatusCode > 299) {
      const reason = isJsonObject(parsed) && typeof parsed.reason === "string" ? parsed.reason : "";
      const message =
        isJsonObject(parsed) && typeof parsed.message === "string" ? parsed.message : text.slice(0, 300);
      throw new KubeApiError(method, path, response.httpStatusCode, reason, message);
    }
    return isJsonObject(parsed) ? parsed : {};
  }

  return {
    request,
    get: (path, query, call) => request("GET", path, { ...call, ...(query === undefined ? {} : { query }) }),
    async getOptional(path, query, call) {
      try {
        return await request("GET", path, { ...call, ...(query === undefined ? {} : { query }) });
      } catch (error) {
        if (error instanceof KubeApiError && error.status === 404) return undefined;
        throw error;
      }
    },
    apply: (path, object, fieldManager) =>
      request("PATCH", path, {
        body: object,
        contentType: CONTENT_TYPE.apply,
        query: { fieldManager, force: "true" },
      }),
    mergePatch: (path, patch, query) =>
      request("PATCH", path, {
        body: patch,
        contentType: CONTENT_TYPE.mergePatch,
        ...(query ? { query } : {}),
      }),
    create: (path, object, call) => request("POST", path, { ...call, body: object }),
    replace: (path, object, call) => request("PUT", path, { ...call, body: object }),
    delete: (path, options) => request("DELETE", path, options === undefined ? {} : { body: options }),
  };
}

/**
 * The kubeconfig's connection pool, but speaking HTTP/1.1 only; undefined when the kubeconfig
 * goes through a proxy (then the KubeConfig's own pool is used).
 *
 * For the write fence: undici offers HTTP/2 and the apiserver picks it, and over HTTP/2 a request
 * is not written when undici starts it: node:http2 queues its frames and writes them to the
 * socket later in the event loop. A leader frozen in between (SIGSTOP, a VM pause) sent the write
 * on resume, after a successor took the Lease (test/e2e/faults-freeze.test.ts, 1 run in 9). Over
 * HTTP/1.1 undici writes the request, headers and buffered body, to the socket in the same
 * synchronous call that asked the fence, and TLS hands it to the kernel right away.
 */
async function http1Pool(kubeConfig: KubeConfig, cluster: Cluster): Promise<Dispatcher | undefined> {
  const tls: AgentOptions = {};
  await kubeConfig.applyToHTTPSOptions(tls);
  const options = kubeConfig.createDispatcherOptions(cluster, tls);
  return options.type === "agent" ? new Agent({ connect: options.connect, allowH2: false }) : undefined;
}

function parseJson(text: string): unknown {
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    // Not JSON (a proxy's HTML error page, say): the caller reports the raw text instead.
    return undefined;
  }
}

/**
 * Whether an error is worth retrying: conflicts, throttling, server errors, transport failures and
 * the client's own timeout. An abort by a caller's signal (leadership lost) is final.
 */
export function isRetryable(error: unknown): boolean {
  if (error instanceof KubeApiError)
    return error.status === 409 || error.status === 429 || error.status >= 500;
  if (isTimeout(error)) return true;
  // fetch rejects with a TypeError ("fetch failed") on connection refused, reset, TLS errors.
  return error instanceof TypeError;
}

/** AbortSignal.timeout's reason, which fetch rejects with. */
function isTimeout(error: unknown): boolean {
  return error instanceof Error && error.name === "TimeoutError";
}
