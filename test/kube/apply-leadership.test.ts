// A write is never retried after this replica stopped leading: the retry loop asks canWrite()
// before every attempt, not only before the first.
import { describe, expect, it } from "vitest";
import type { JsonObject } from "../../src/core/workload.ts";
import { OwnedObjectApplier } from "../../src/kube/apply.ts";
import { KubeApiError, type KubeRest } from "../../src/kube/rest.ts";
import { NotLeaderError } from "../../src/kube/write-fence.ts";
import { createLogger } from "../../src/log.ts";

const refuse = () => Promise.reject(new Error("not used here"));

describe("OwnedObjectApplier and leadership", () => {
  it("stops retrying a failed apply once leadership is lost", async () => {
    const attempts: string[] = [];
    let leading = true;
    const rest: KubeRest = {
      request: refuse,
      get: refuse,
      getOptional: refuse,
      mergePatch: refuse,
      create: refuse,
      replace: refuse,
      delete: refuse,
      apply: async (path): Promise<JsonObject> => {
        attempts.push(path);
        // The apiserver is overloaded, and meanwhile the lease is lost.
        leading = false;
        throw new KubeApiError("PATCH", path, 503, "ServiceUnavailable", "overloaded");
      },
    };
    const applier = new OwnedObjectApplier({
      rest,
      namespace: "prepull",
      ownedLabels: { "app.kubernetes.io/managed-by": "prepull" },
      logger: createLogger("silent"),
      onWrite: () => {},
      retry: { attempts: 5, baseDelayMs: 0, maxDelayMs: 0, sleep: async () => {} },
    });
    const manifest = {
      apiVersion: "apps/v1",
      kind: "DaemonSet",
      metadata: { name: "prepull-a", namespace: "prepull" },
    };
    const result = applier.apply("DaemonSet", [manifest], [], () => leading);
    await expect(result).rejects.toThrow(AggregateError);
    await result.catch((error: AggregateError) => expect(error.errors[0]).toBeInstanceOf(NotLeaderError));
    expect(attempts).toEqual(["/apis/apps/v1/namespaces/prepull/daemonsets/prepull-a"]);
  });
});
