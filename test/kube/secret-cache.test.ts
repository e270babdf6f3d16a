// The source-Secret cache against a small fake store and a fake clock: an answer is reused within
// maxAge (found, missing or forbidden alike), asked again after it, errors are never kept, and
// answers nobody asks for are dropped.
import { describe, expect, it } from "vitest";
import { cachedSecretStore } from "../../src/kube/secret-cache.ts";
import type { SecretRead, SecretStore } from "../../src/kube/secrets.ts";

function fakeStore(answers: Record<string, SecretRead | Error>) {
  const reads: string[] = [];
  const store: SecretStore = {
    async read(namespace, name) {
      const key = `${namespace}/${name}`;
      reads.push(key);
      const answer = answers[key] ?? { found: false, reason: "missing" };
      if (answer instanceof Error) throw answer;
      return answer;
    },
    deleteLabelled: async () => 3,
  };
  return { store, reads };
}

const REGCRED: SecretRead = {
  found: true,
  type: "kubernetes.io/dockerconfigjson",
  data: { ".dockerconfigjson": "e30=" },
};

describe("cachedSecretStore", () => {
  it("asks once per maxAge per Secret, whatever it answered", async () => {
    let now = 1_000;
    const { store, reads } = fakeStore({
      "team-a/regcred": REGCRED,
      "team-b/locked": { found: false, reason: "forbidden" },
    });
    const cache = cachedSecretStore(store, { maxAgeMs: 300_000, now: () => now });
    // Ten quiet runs within one resync: one GET each.
    for (let run = 0; run < 10; run++) {
      expect(await cache.read("team-a", "regcred")).toEqual(REGCRED);
      expect(await cache.read("team-b", "locked")).toEqual({ found: false, reason: "forbidden" });
      expect(await cache.read("team-c", "gone")).toEqual({ found: false, reason: "missing" });
      now += 29_000;
    }
    expect(reads).toEqual(["team-a/regcred", "team-b/locked", "team-c/gone"]);
    // 290 s in: still fresh. At 300 s it is read again.
    now = 1_000 + 299_999;
    await cache.read("team-a", "regcred");
    expect(reads).toHaveLength(3);
    now = 1_000 + 300_000;
    await cache.read("team-a", "regcred");
    expect(reads).toEqual(["team-a/regcred", "team-b/locked", "team-c/gone", "team-a/regcred"]);
  });

  it("a rotated Secret is seen once its answer is older than maxAge", async () => {
    let now = 0;
    const answers: Record<string, SecretRead> = { "ns/regcred": REGCRED };
    const { store } = fakeStore(answers);
    const cache = cachedSecretStore(store, { maxAgeMs: 30_000, now: () => now });
    await cache.read("ns", "regcred");
    const rotated: SecretRead = {
      found: true,
      type: "kubernetes.io/dockerconfigjson",
      data: { ".dockerconfigjson": "e3x9" },
    };
    answers["ns/regcred"] = rotated;
    now = 29_999;
    expect(await cache.read("ns", "regcred")).toEqual(REGCRED);
    now = 30_000;
    expect(await cache.read("ns", "regcred")).toEqual(rotated);
  });

  it("never keeps an error: the next run asks again", async () => {
    const { store, reads } = fakeStore({
      "ns/flaky": new Error("GET /api/v1/namespaces/ns/secrets/flaky: 503"),
    });
    const cache = cachedSecretStore(store, { maxAgeMs: 60_000, now: () => 0 });
    await expect(cache.read("ns", "flaky")).rejects.toThrow("503");
    await expect(cache.read("ns", "flaky")).rejects.toThrow("503");
    expect(reads).toEqual(["ns/flaky", "ns/flaky"]);
  });

  it("asks again for a Secret after maxAge, and passes deletes through", async () => {
    let now = 0;
    const { store, reads } = fakeStore({ "ns/old": REGCRED, "ns/new": REGCRED });
    const cache = cachedSecretStore(store, { maxAgeMs: 10_000, now: () => now });
    await cache.read("ns", "old");
    now = 25_000;
    await cache.read("ns", "new");
    now = 26_000;
    await cache.read("ns", "old");
    expect(reads).toEqual(["ns/old", "ns/new", "ns/old"]);
    expect(await cache.deleteLabelled("ns", "app.kubernetes.io/managed-by=prepull")).toBe(3);
  });

  it.each([0, -1, Number.NaN])("refuses a maxAge of %d ms", (maxAgeMs) => {
    expect(() => cachedSecretStore(fakeStore({}).store, { maxAgeMs, now: () => 0 })).toThrow(
      `maxAgeMs must be a positive number of milliseconds, got ${maxAgeMs}`,
    );
  });
});
