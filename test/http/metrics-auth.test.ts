// The token cache in front of the apiserver's reviews, with a fake clock and a counting check.
import { describe, expect, it } from "vitest";
import { type AccessDecision, bearerToken, cachedAuthorizer } from "../../src/http/metrics-auth.ts";

function counting(decisions: Record<string, AccessDecision | Error>) {
  const asked: string[] = [];
  const check = async (token: string): Promise<AccessDecision> => {
    asked.push(token);
    const decision = decisions[token];
    if (decision === undefined) return "unauthenticated";
    if (decision instanceof Error) throw decision;
    return decision;
  };
  return { asked, check };
}

describe("cachedAuthorizer", () => {
  const options = { allowTtlMs: 60_000, denyTtlMs: 10_000, maxEntries: 2 };

  it("asks once per token within the TTL, again after it", async () => {
    let now = 0;
    const { asked, check } = counting({ good: "allowed", nosy: "forbidden" });
    const authorize = cachedAuthorizer(check, { ...options, now: () => now });
    expect(await authorize("good")).toBe("allowed");
    expect(await authorize("nosy")).toBe("forbidden");
    now = 9_999;
    expect(await authorize("good")).toBe("allowed");
    expect(await authorize("nosy")).toBe("forbidden");
    expect(asked).toEqual(["good", "nosy"]);
    // A refusal is remembered for less time than an allowance.
    now = 10_001;
    await authorize("nosy");
    await authorize("good");
    expect(asked).toEqual(["good", "nosy", "nosy"]);
    now = 60_001;
    await authorize("good");
    expect(asked).toEqual(["good", "nosy", "nosy", "good"]);
  });

  it("asks once for concurrent requests with one token", async () => {
    const { asked, check } = counting({ good: "allowed" });
    const authorize = cachedAuthorizer(check, { ...options, now: () => 0 });
    expect(await Promise.all([authorize("good"), authorize("good"), authorize("good")])).toEqual([
      "allowed",
      "allowed",
      "allowed",
    ]);
    expect(asked).toEqual(["good"]);
  });

  it("does not cache a failure to decide", async () => {
    const { asked, check } = counting({ flaky: new Error("apiserver unreachable") });
    const authorize = cachedAuthorizer(check, { ...options, now: () => 0 });
    await expect(authorize("flaky")).rejects.toThrow("apiserver unreachable");
    await expect(authorize("flaky")).rejects.toThrow("apiserver unreachable");
    expect(asked).toEqual(["flaky", "flaky"]);
  });

  it("remembers at most maxEntries tokens, forgetting the oldest", async () => {
    const { asked, check } = counting({});
    const authorize = cachedAuthorizer(check, { ...options, now: () => 0 });
    for (let i = 0; i < 1000; i++) await authorize(`forged-${i}`);
    expect(asked).toHaveLength(1000);
    await authorize("forged-999");
    await authorize("forged-998");
    expect(asked).toHaveLength(1000);
    await authorize("forged-0");
    expect(asked).toHaveLength(1001);
  });
});

describe("bearerToken", () => {
  it.each([
    ["Bearer abc.def", "abc.def"],
    ["bearer abc", "abc"],
    ["Bearer  abc ", "abc"],
  ])("%j → %j", (header, token) => expect(bearerToken(header)).toBe(token));

  it.each([undefined, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer a b"])("%j → none", (header) =>
    expect(bearerToken(header)).toBeUndefined(),
  );
});
