// Source pull Secrets, read at most once per resync instead of once per reconcile run.
//
// Not a watch: the chart grants `get` on Secrets and never `list` or `watch`, since a watch of
// every Secret in the cluster would hand prepull every tenant's credentials. So each Secret a
// workload names is still fetched by name, and the answer (found, missing or forbidden) is kept
// for `maxAgeMs`, the resync interval. A quiet cluster then costs one GET per mirrored Secret per
// resync rather than one per run, and a rotated source reaches its mirror within one resync.
// Errors are not kept: the next run asks again.
import type { SecretRead, SecretStore } from "./secrets.ts";

export interface SecretCacheOptions {
  /** How long an answer is reused; the reconciler passes its resync interval. */
  maxAgeMs: number;
  /** Monotonic milliseconds. */
  now: () => number;
}

export function cachedSecretStore(store: SecretStore, options: SecretCacheOptions): SecretStore {
  const { maxAgeMs, now } = options;
  if (!(Number.isFinite(maxAgeMs) && maxAgeMs > 0))
    throw new RangeError(`maxAgeMs must be a positive number of milliseconds, got ${maxAgeMs}`);
  const answers = new Map<string, { read: SecretRead; at: number }>();
  let sweptAt = now();
  /** Drops answers nobody asked for within maxAge: Secrets no workload names any more. */
  const sweep = (at: number) => {
    if (at - sweptAt < maxAgeMs) return;
    sweptAt = at;
    for (const [key, answer] of answers) if (at - answer.at >= maxAgeMs) answers.delete(key);
  };
  return {
    async read(namespace, name) {
      const at = now();
      sweep(at);
      const key = `${namespace}/${name}`;
      const kept = answers.get(key);
      if (kept !== undefined && at - kept.at < maxAgeMs) return kept.read;
      const read = await store.read(namespace, name);
      answers.set(key, { read, at });
      return read;
    },
    deleteLabelled: (namespace, labelSelector) => store.deleteLabelled(namespace, labelSelector),
  };
}
