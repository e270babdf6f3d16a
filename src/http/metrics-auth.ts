// Who may read /metrics: a bearer token, judged by an injected check (the Kubernetes adapter's
// TokenReview + SubjectAccessReview in production, as controller-runtime's secure metrics serving
// does) and cached briefly, so a Prometheus scraping every few seconds costs the apiserver two
// reviews per token per minute, not per scrape. `http` never imports `kube`: main wires the check.
import { createHash } from "node:crypto";

export type AccessDecision = "allowed" | "unauthenticated" | "forbidden";

/** Judges one bearer token; rejects when it cannot tell (the API is unreachable, say). */
export type TokenAuthorizer = (token: string) => Promise<AccessDecision>;

export interface AuthorizerCacheOptions {
  /** How long an allowed token stays allowed without asking again. */
  allowTtlMs: number;
  /** How long a refused token stays refused (short: a new RoleBinding should work soon). */
  denyTtlMs: number;
  /** At most this many tokens are remembered; the oldest is forgotten first. */
  maxEntries: number;
  now?: () => number;
}

/** controller-runtime's defaults are of this order (minutes for allowed, seconds for refused). */
const DEFAULT_AUTHORIZER_CACHE: AuthorizerCacheOptions = {
  allowTtlMs: 60_000,
  denyTtlMs: 10_000,
  maxEntries: 1024,
};

interface Entry {
  decision: Promise<AccessDecision>;
  /** Infinity while the check is in flight: concurrent scrapes with one token ask once. */
  expiresAt: number;
}

export function cachedAuthorizer(
  check: TokenAuthorizer,
  options: AuthorizerCacheOptions = DEFAULT_AUTHORIZER_CACHE,
): TokenAuthorizer {
  const now = options.now ?? (() => performance.now());
  // Keyed by a hash, so the cache never holds a usable token.
  const entries = new Map<string, Entry>();
  return (token) => {
    const key = createHash("sha256").update(token).digest("hex");
    const found = entries.get(key);
    if (found !== undefined && found.expiresAt > now()) return found.decision;
    entries.delete(key);
    const entry: Entry = { decision: check(token), expiresAt: Number.POSITIVE_INFINITY };
    entries.set(key, entry);
    while (entries.size > options.maxEntries) {
      const oldest = entries.keys().next().value;
      if (oldest === undefined) break;
      entries.delete(oldest);
    }
    entry.decision.then(
      (decision) => {
        entry.expiresAt = now() + (decision === "allowed" ? options.allowTtlMs : options.denyTtlMs);
      },
      // Not cached: the next request asks again.
      () => {
        if (entries.get(key) === entry) entries.delete(key);
      },
    );
    return entry.decision;
  };
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match?.[1];
}
