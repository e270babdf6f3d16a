// Leader election in the style of client-go's leaderelection_test.go: a fake Lease API that can
// conflict, fail and hang, and a fake clock, so every case runs minutes of election in
// milliseconds and each assertion pins the moment something must (or must not) have happened.
//
// Timings of every case: lease 15 s, renew every 5 s, renew deadline 10 s, retry 2 s (no jitter:
// random is 0), request timeout 5 s.
import { describe, expect, it } from "vitest";
import {
  type LeaderElectionSettings,
  LeaderElectionTimingError,
  LeaderElector,
  validateLeaderElectionTimings,
} from "../../src/kube/leader.ts";
import { createLogger } from "../../src/log.ts";
import { FakeLeaseApi } from "../support/fake-lease-api.ts";
import { JumpingClock } from "../support/jumping-clock.ts";

const ME = "prepull-a_1";
const OTHER = "prepull-b_1";

const SETTINGS: LeaderElectionSettings = {
  namespace: "prepull",
  name: "prepull-reconciler",
  identity: ME,
  leaseDurationSeconds: 15,
  renewPeriodSeconds: 5,
  renewDeadlineSeconds: 10,
  retryPeriodSeconds: 2,
  requestTimeoutSeconds: 5,
};

function setUp() {
  const api = new FakeLeaseApi();
  const clock = new JumpingClock();
  const events: { leader: boolean; at: number }[] = [];
  const elector = new LeaderElector({
    rest: api.rest(),
    settings: SETTINGS,
    logger: createLogger("silent"),
    clock,
    wallNow: () => new Date(Date.UTC(2026, 0, 1) + clock.now()),
    random: () => 0,
    onStartedLeading: () => events.push({ leader: true, at: clock.now() }),
    onStoppedLeading: () => events.push({ leader: false, at: clock.now() }),
  });
  return { api, clock, events, elector };
}

describe("LeaderElector", () => {
  it("acquires a Lease that does not exist by creating it", async () => {
    const { api, clock, events, elector } = setUp();
    elector.start();
    await clock.advance(0);
    expect(elector.isLeader()).toBe(true);
    expect(events).toEqual([{ leader: true, at: 0 }]);
    expect(api.lease?.spec).toEqual({
      holderIdentity: ME,
      leaseDurationSeconds: 15,
      acquireTime: "2026-01-01T00:00:00.000000Z",
      renewTime: "2026-01-01T00:00:00.000000Z",
      leaseTransitions: 0,
    });
    // It keeps renewing every renew period.
    await clock.advance(20_000);
    expect(api.writes(ME).map((w) => w.verb)).toEqual(["create", "replace", "replace", "replace", "replace"]);
    expect(elector.isLeader()).toBe(true);
  });

  it("stays a follower, writing nothing, while another replica renews", async () => {
    const { api, clock, events, elector } = setUp();
    api.writeAs(OTHER);
    elector.start();
    for (let second = 0; second < 120; second += 5) {
      await clock.advance(5_000);
      api.writeAs(OTHER);
      expect(elector.isLeader()).toBe(false);
    }
    expect(events).toEqual([]);
    expect(api.calls.filter((c) => c.verb !== "get")).toEqual([]);
    expect(api.holder()).toBe(OTHER);
  });

  it("takes over when the other replica's lease expires, by its own clock", async () => {
    const { api, clock, events, elector } = setUp();
    api.writeAs(OTHER);
    elector.start();
    // First seen at t=0; expires at 15 000 by this process's clock; the follower wakes 50 ms after.
    await clock.advanceTo(15_049);
    expect(elector.isLeader()).toBe(false);
    expect(api.holder()).toBe(OTHER);
    await clock.advanceTo(15_050);
    expect(elector.isLeader()).toBe(true);
    expect(events).toEqual([{ leader: true, at: 15_050 }]);
    expect(api.lease?.spec).toMatchObject({ holderIdentity: ME, leaseTransitions: 2 });
  });

  it("loses a 409 race for an expired lease and then follows the winner", async () => {
    const { api, clock, events, elector } = setUp();
    api.writeAs(OTHER);
    elector.start();
    await clock.advanceTo(15_000);
    // A third replica writes the expired lease between this one's GET and PUT.
    api.beforeReplace = () => api.writeAs("prepull-c_1");
    await clock.advanceTo(15_050);
    expect(api.calls.filter((c) => c.verb !== "get")).toEqual([
      { verb: "replace", holder: ME, outcome: "conflict" },
    ]);
    expect(elector.isLeader()).toBe(false);
    expect(api.holder()).toBe("prepull-c_1");
    // The winner renews: this replica stays a follower.
    for (let i = 0; i < 10; i++) {
      await clock.advance(5_000);
      api.writeAs("prepull-c_1");
      expect(elector.isLeader()).toBe(false);
    }
    expect(events).toEqual([]);
    expect(api.writes(ME)).toEqual([]);
  });

  it("steps down at its renew deadline when a renewal hangs, and aborts the request", async () => {
    const { api, clock, events, elector } = setUp();
    elector.start();
    await clock.advance(0);
    await clock.advanceTo(5_000); // renewed, sent at 5 000: the deadline is now 15 000
    expect(api.writes(ME)).toHaveLength(2);
    api.fault = "hang";
    await clock.advanceTo(10_000); // the next renewal hangs
    expect(api.hanging()).toBe(1);
    await clock.advanceTo(14_999);
    expect(elector.isLeader()).toBe(true);
    await clock.advanceTo(15_000);
    expect(elector.isLeader()).toBe(false);
    expect(events).toEqual([
      { leader: true, at: 0 },
      { leader: false, at: 15_000 },
    ]);
    expect(api.hanging()).toBe(0);
    expect(api.calls.filter((c) => c.outcome === "aborted").length).toBeGreaterThanOrEqual(1);
    // Still hanging a minute later: it never leads again, and every request it makes is cut.
    await clock.advance(60_000);
    expect(elector.isLeader()).toBe(false);
    expect(api.hanging()).toBeLessThanOrEqual(1);
    expect(events).toHaveLength(2);
  });

  it("keeps leading through failed renewals until the deadline, retrying every retry period", async () => {
    const { api, clock, events, elector } = setUp();
    elector.start();
    await clock.advance(0);
    api.fault = "fail";
    await clock.advanceTo(9_999);
    expect(elector.isLeader()).toBe(true);
    await clock.advanceTo(10_000);
    expect(elector.isLeader()).toBe(false);
    expect(events).toEqual([
      { leader: true, at: 0 },
      { leader: false, at: 10_000 },
    ]);
    // Renewal at 5 000 failed; then retries at 7 000 and 9 000, not at the next renew period.
    expect(api.calls.filter((c) => c.outcome === "failed")).toHaveLength(3);
  });

  it("stops leading by the clock alone when its timers are late (a blocked event loop)", async () => {
    const { clock, elector } = setUp();
    elector.start();
    await clock.advance(0);
    expect(elector.isLeader()).toBe(true);
    clock.jump(10_000);
    expect(elector.isLeader()).toBe(false);
  });

  it("releases the lease on stop, so a successor need not wait for it to expire", async () => {
    const { api, clock, events, elector } = setUp();
    elector.start();
    await clock.advance(0);
    await elector.stop();
    expect(elector.isLeader()).toBe(false);
    expect(events).toEqual([
      { leader: true, at: 0 },
      { leader: false, at: 0 },
    ]);
    expect(api.lease?.spec).toMatchObject({ holderIdentity: "", leaseDurationSeconds: 1 });
    // Stopped: nothing more is written.
    const calls = api.calls.length;
    await clock.advance(60_000);
    expect(api.calls).toHaveLength(calls);
  });

  it("does not touch a lease another replica holds when stopped as a follower", async () => {
    const { api, clock, elector } = setUp();
    api.writeAs(OTHER);
    elector.start();
    await clock.advance(3_000);
    await elector.stop();
    expect(api.holder()).toBe(OTHER);
    expect(api.calls.filter((c) => c.verb !== "get")).toEqual([]);
  });
});

describe("validateLeaderElectionTimings", () => {
  it.each([
    ["leaseDurationSeconds", { leaseDurationSeconds: 0 }, "must be a number of seconds above 0, got 0"],
    ["renewDeadlineSeconds", { renewDeadlineSeconds: 15 }, "must be below leaseDurationSeconds (15), got 15"],
    [
      "retryPeriodSeconds",
      { retryPeriodSeconds: 9 },
      "× 1.2 (jitter) must be below renewDeadlineSeconds (10), got 9",
    ],
    ["renewPeriodSeconds", { renewPeriodSeconds: 10 }, "must be below renewDeadlineSeconds (10), got 10"],
    [
      "requestTimeoutSeconds",
      { requestTimeoutSeconds: 6 },
      "must be at most leaseDurationSeconds − renewDeadlineSeconds (5), got 6",
    ],
  ] as const)("rejects a bad %s", (setting, change, problem) => {
    const bad = { ...SETTINGS, ...change };
    expect(() => validateLeaderElectionTimings(bad)).toThrow(new LeaderElectionTimingError(setting, problem));
    expect(() => validateLeaderElectionTimings(bad)).toThrow(`leader election ${setting}: ${problem}`);
    // The elector refuses to be built with them.
    expect(
      () =>
        new LeaderElector({ rest: new FakeLeaseApi().rest(), settings: bad, logger: createLogger("silent") }),
    ).toThrow(LeaderElectionTimingError);
  });

  it("accepts the defaults", () => {
    expect(() => validateLeaderElectionTimings(SETTINGS)).not.toThrow();
  });
});
