// The status writer's rate limit: a suppressed change is written later, whatever the other
// workloads in the same report need.
import { describe, expect, it } from "vitest";
import type { WorkloadStatus } from "../../src/core/status.ts";
import type { JsonObject, WorkloadKey } from "../../src/core/workload.ts";
import { KubeApiError, type KubeRest } from "../../src/kube/rest.ts";
import { SLEEPER_FAILED_REASON, STATUS_ANNOTATION, StatusWriter } from "../../src/kube/status-writer.ts";
import { createLogger } from "../../src/log.ts";

function status(name: string, summary: string): WorkloadStatus {
  const workload: WorkloadKey = { kind: "Deployment", namespace: "apps", name };
  return {
    workload,
    id: `Deployment/apps/${name}`,
    images: [],
    sleeperFailing: [],
    readyNodes: 0,
    eligibleNodes: 0,
    summary,
  };
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
    const writer = new StatusWriter({
      rest: fakeRest(patched),
      logger: createLogger("silent"),
      identity: "test",
      minIntervalMs: 5_000,
      now: () => now,
    });
    const canWrite = () => true;

    // First report: "a" is written; "b" already carries its status.
    const first = await writer.write(
      [status("a", "0/0 nodes ready"), status("b", "2/2 nodes ready")],
      new Map([
        ["Deployment/apps/a", object(undefined)],
        ["Deployment/apps/b", object("2/2 nodes ready")],
      ]),
      canWrite,
    );
    expect(patched).toEqual(["a"]);
    expect(first).toBeUndefined();

    // A second later "a" is ready: too soon to write again, so a later run must be requested.
    now = 1_000;
    const second = await writer.write(
      [status("a", "3/3 nodes ready"), status("b", "2/2 nodes ready")],
      new Map([
        ["Deployment/apps/a", object("0/0 nodes ready")],
        ["Deployment/apps/b", object("2/2 nodes ready")],
      ]),
      canWrite,
    );
    expect(patched).toEqual(["a"]);
    expect(second).toBe(4_000);

    // That run writes it.
    now = 5_000;
    const third = await writer.write(
      [status("a", "3/3 nodes ready"), status("b", "2/2 nodes ready")],
      new Map([
        ["Deployment/apps/a", object("0/0 nodes ready")],
        ["Deployment/apps/b", object("2/2 nodes ready")],
      ]),
      canWrite,
    );
    expect(patched).toEqual(["a", "a"]);
    expect(third).toBeUndefined();
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

/** Records merge patches and Events; refuses the patches of the workloads named in `refuse`. */
function recordingRest(refuse: ReadonlySet<string>) {
  const patches: { name: string; patch: JsonObject }[] = [];
  const events: JsonObject[] = [];
  const rest: KubeRest = {
    request: unused,
    get: unused,
    getOptional: unused,
    apply: unused,
    replace: unused,
    delete: unused,
    create: async (_path, object) => {
      events.push(object);
      return object;
    },
    mergePatch: async (path, patch) => {
      const name = path.slice(path.lastIndexOf("/") + 1);
      if (refuse.has(name))
        throw new KubeApiError("PATCH", path, 422, "Invalid", "denied by ValidatingAdmissionPolicy");
      patches.push({ name, patch });
      return {};
    },
  };
  return { rest, patches, events };
}

function writerWith(rest: KubeRest): StatusWriter {
  return new StatusWriter({
    rest,
    logger: createLogger("silent"),
    identity: "test",
    minIntervalMs: 0,
    now: () => 0,
  });
}

describe("StatusWriter publication", () => {
  it("clears stale annotations even when another workload's status patch is refused, and backs off", async () => {
    const { rest, patches } = recordingRest(new Set(["rejected"]));
    const writer = writerWith(rest);
    const snapshot = {
      statuses: [status("rejected", "1/3 nodes ready")],
      live: new Map([["Deployment/apps/rejected", object(undefined)]]),
      untracked: [
        {
          key: { kind: "Deployment", namespace: "apps", name: "gone" } as WorkloadKey,
          object: object("3/3 nodes ready"),
        },
      ],
    };
    const first = await writer.publish(snapshot, () => true);
    expect(patches).toEqual([
      { name: "gone", patch: { metadata: { annotations: { [STATUS_ANNOTATION]: null } } } },
    ]);
    expect(first).toEqual({ requeueAfterMs: 5_000 });
    // Still refused: the retry waits twice as long.
    expect(await writer.publish({ ...snapshot, untracked: [] }, () => true)).toEqual({
      requeueAfterMs: 10_000,
    });
  });

  it("reports a pre-pull pod whose init container fails in an Event, once until it recovers", async () => {
    const { rest, events } = recordingRest(new Set());
    const writer = writerWith(rest);
    const failing: WorkloadStatus = {
      ...status("web", "0/3 nodes ready; pre-pull pod cannot start on 3 nodes: install-sleeper OOMKilled"),
      eligibleNodes: 3,
      sleeperFailing: [{ reason: "install-sleeper OOMKilled", message: "", nodes: 3 }],
    };
    const live = new Map([["Deployment/apps/web", object(undefined)]]);
    await writer.write([failing], live, () => true);
    await writer.write([failing], live, () => true);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: "Warning",
      reason: SLEEPER_FAILED_REASON,
      message:
        "The pre-pull pod cannot start on 3 of 3 nodes, so nothing is pulled there: install-sleeper OOMKilled",
      involvedObject: { kind: "Deployment", namespace: "apps", name: "web" },
    });
    expect(SLEEPER_FAILED_REASON).toBe("PrepullPodFailed");
  });
});
