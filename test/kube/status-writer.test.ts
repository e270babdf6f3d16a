// The status writer's rate limit: a suppressed change is written later, whatever the other
// workloads in the same report need.
import { describe, expect, it } from "vitest";
import type { JsonObject, WorkloadKey } from "../../src/core/workload.ts";
import type { KubeRest } from "../../src/kube/rest.ts";
import { STATUS_ANNOTATION, StatusWriter } from "../../src/kube/status-writer.ts";
import { createLogger } from "../../src/log.ts";
import type { WorkloadStatus } from "../../src/reconcile/status.ts";

function status(name: string, summary: string): WorkloadStatus {
  const workload: WorkloadKey = { kind: "Deployment", namespace: "apps", name };
  return { workload, id: `Deployment/apps/${name}`, images: [], readyNodes: 0, eligibleNodes: 0, summary };
}

function object(summary: string | undefined): JsonObject {
  return { metadata: { annotations: summary === undefined ? {} : { [STATUS_ANNOTATION]: summary } } };
}

function unused(): Promise<JsonObject> {
  return Promise.reject(new Error("not used by the status writer here"));
}

function fakeRest(patched: string[]): KubeRest {
  return {
    request: unused,
    get: unused,
    getOptional: unused,
    apply: unused,
    create: unused,
    replace: unused,
    delete: unused,
    mergePatch: async (path) => {
      patched.push(path.slice(path.lastIndexOf("/") + 1));
      return {};
    },
  };
}

describe("StatusWriter rate limit", () => {
  it("asks for a later run for a rate-limited change even when another workload needs nothing", async () => {
    let now = 0;
    const patched: string[] = [];
    const later: number[] = [];
    const writer = new StatusWriter({
      rest: fakeRest(patched),
      logger: createLogger("silent"),
      identity: "test",
      minIntervalMs: 5_000,
      requestLater: (ms) => later.push(ms),
      now: () => now,
    });
    const canWrite = () => true;

    // First report: "a" is written; "b" already carries its status.
    await writer.write(
      [status("a", "0/0 nodes ready"), status("b", "2/2 nodes ready")],
      new Map([
        ["Deployment/apps/a", object(undefined)],
        ["Deployment/apps/b", object("2/2 nodes ready")],
      ]),
      canWrite,
    );
    expect(patched).toEqual(["a"]);
    expect(later).toEqual([]);

    // A second later "a" is ready: too soon to write again, so a later run must be requested.
    now = 1_000;
    await writer.write(
      [status("a", "3/3 nodes ready"), status("b", "2/2 nodes ready")],
      new Map([
        ["Deployment/apps/a", object("0/0 nodes ready")],
        ["Deployment/apps/b", object("2/2 nodes ready")],
      ]),
      canWrite,
    );
    expect(patched).toEqual(["a"]);
    expect(later).toEqual([4_000]);

    // That run writes it.
    now = 5_000;
    await writer.write(
      [status("a", "3/3 nodes ready"), status("b", "2/2 nodes ready")],
      new Map([
        ["Deployment/apps/a", object("0/0 nodes ready")],
        ["Deployment/apps/b", object("2/2 nodes ready")],
      ]),
      canWrite,
    );
    expect(patched).toEqual(["a", "a"]);
    expect(later).toEqual([4_000]);
  });
});

describe("StatusWriter notes", () => {
  it("reports each new note once in a PrepullRestricted Event, again only after it went away", async () => {
    const events: { reason: unknown; message: unknown; namespace: unknown }[] = [];
    const rest: KubeRest = {
      ...fakeRest([]),
      create: async (_path, body) => {
        const involved = body.involvedObject as JsonObject;
        events.push({ reason: body.reason, message: body.message, namespace: involved.namespace });
        return {};
      },
    };
    const writer = new StatusWriter({
      rest,
      logger: createLogger("silent"),
      identity: "test",
      minIntervalMs: 0,
      requestLater: () => {},
    });
    const note = "toleration of every taint dropped: prepull tolerates named taints only";
    const withNote = (notes: string[]): WorkloadStatus => ({ ...status("a", "0/0 nodes ready"), notes });
    const live = new Map([["Deployment/apps/a", object("0/0 nodes ready")]]);
    await writer.write([withNote([note])], live, () => true);
    await writer.write([withNote([note])], live, () => true);
    expect(events).toEqual([{ reason: "PrepullRestricted", message: `prepull: ${note}`, namespace: "apps" }]);
    await writer.write([withNote([])], live, () => true);
    await writer.write([withNote([note])], live, () => true);
    expect(events).toHaveLength(2);
  });
});
