// A Lease API small enough to reason about, behind the KubeRest interface the elector uses: one
// Lease, resourceVersion preconditions (a stale PUT or a second create is a 409, as the apiserver
// answers), and faults a test switches on: every request failing with a 500, or hanging until the
// caller's signal aborts it. Every call is recorded with who made it and how it ended.
import type { JsonObject } from "../../src/core/workload.ts";
import { type CallOptions, KubeApiError, type KubeRest } from "../../src/kube/rest.ts";

export type Fault = "none" | "fail" | "hang";

export interface LeaseCall {
  verb: "get" | "create" | "replace";
  /** The holder a write asked for. */
  holder?: string;
  outcome: "ok" | "conflict" | "failed" | "aborted" | "not-found";
}

export class FakeLeaseApi {
  lease: JsonObject | undefined;
  fault: Fault = "none";
  readonly calls: LeaseCall[] = [];
  /** Runs once just before the next replace lands: another replica writing first. */
  beforeReplace: (() => void) | undefined;
  #version = 0;
  #hanging = 0;

  /** Requests hanging right now. */
  hanging(): number {
    return this.#hanging;
  }

  holder(): string | undefined {
    const spec = this.lease?.spec as JsonObject | undefined;
    return spec?.holderIdentity as string | undefined;
  }

  /** Another replica (not under test) takes or renews the lease. */
  writeAs(holder: string, leaseDurationSeconds = 15): void {
    const spec = (this.lease?.spec as JsonObject | undefined) ?? {};
    const transitions = typeof spec.leaseTransitions === "number" ? spec.leaseTransitions : 0;
    this.lease = {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: "prepull-reconciler", namespace: "prepull", resourceVersion: this.#bump() },
      spec: {
        holderIdentity: holder,
        leaseDurationSeconds,
        renewTime: `renewed-${this.#version}`,
        leaseTransitions: spec.holderIdentity === holder ? transitions : transitions + 1,
      },
    };
  }

  writes(holder: string): LeaseCall[] {
    return this.calls.filter((c) => c.verb !== "get" && c.holder === holder && c.outcome === "ok");
  }

  rest(): KubeRest {
    const refuse = () => Promise.reject(new Error("the Lease fake serves only get, create and replace"));
    return {
      request: refuse,
      get: refuse,
      apply: refuse,
      mergePatch: refuse,
      delete: refuse,
      getOptional: (_path, _query, call) =>
        this.#serve({ verb: "get" }, call, () => {
          if (this.lease === undefined) return { outcome: "not-found", value: undefined };
          return { outcome: "ok", value: structuredClone(this.lease) };
        }),
      create: (_path, object, call) =>
        this.#serve({ verb: "create", holder: holderOf(object) }, call, () => {
          if (this.lease !== undefined) throw conflict("create");
          this.lease = stored(object, this.#bump());
          return { outcome: "ok", value: structuredClone(this.lease) };
        }),
      replace: (_path, object, call) =>
        this.#serve({ verb: "replace", holder: holderOf(object) }, call, () => {
          const hook = this.beforeReplace;
          this.beforeReplace = undefined;
          hook?.();
          const sent = (object.metadata as JsonObject | undefined)?.resourceVersion;
          const current = (this.lease?.metadata as JsonObject | undefined)?.resourceVersion;
          if (this.lease === undefined || sent !== current) throw conflict("replace");
          this.lease = stored(object, this.#bump());
          return { outcome: "ok", value: structuredClone(this.lease) };
        }),
    } as KubeRest;
  }

  #bump(): string {
    this.#version++;
    return String(this.#version);
  }

  async #serve<T>(
    call: Omit<LeaseCall, "outcome">,
    options: CallOptions | undefined,
    answer: () => { outcome: LeaseCall["outcome"]; value: T },
  ): Promise<T> {
    const record = (outcome: LeaseCall["outcome"]) => this.calls.push({ ...call, outcome });
    if (this.fault === "fail") {
      record("failed");
      throw new KubeApiError(call.verb.toUpperCase(), "/leases", 500, "InternalError", "injected");
    }
    if (this.fault === "hang") {
      this.#hanging++;
      return new Promise<T>((_resolve, reject) => {
        const signal = options?.signal;
        signal?.addEventListener("abort", () => {
          this.#hanging--;
          record("aborted");
          reject(signal.reason);
        });
      });
    }
    try {
      const { outcome, value } = answer();
      record(outcome);
      return value;
    } catch (error) {
      record("conflict");
      throw error;
    }
  }
}

function holderOf(object: JsonObject): string | undefined {
  const spec = object.spec as JsonObject | undefined;
  return typeof spec?.holderIdentity === "string" ? spec.holderIdentity : undefined;
}

function stored(object: JsonObject, resourceVersion: string): JsonObject {
  const copy = structuredClone(object);
  copy.metadata = { ...(copy.metadata as JsonObject), resourceVersion };
  return copy;
}

function conflict(verb: string): KubeApiError {
  return new KubeApiError(verb.toUpperCase(), "/leases", 409, "Conflict", "the object has been modified");
}
