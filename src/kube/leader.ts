// Lease-based leader election (coordination.k8s.io/v1), the algorithm of client-go's
// leaderelection package: one Lease object, updated with resourceVersion preconditions so two
// replicas can never both win the same round.
//
// - A follower reads the Lease every retry period (with jitter, so replicas that failed together
//   do not retry together). The lease counts as expired when its record (holder, renewTime,
//   resourceVersion) has not changed for leaseDuration by the follower's own monotonic clock since
//   it first saw that record. Never comparing against the holder's renewTime means clock skew
//   between machines cannot make two leaders.
// - The leader renews every renew period (every retry period after a failed renewal) and steps
//   down by itself when it has not renewed for renewDeadline (< leaseDuration), so it stops
//   writing before anyone else may take over. The deadline is a timer of its own and isLeader()
//   checks the clock too: a renewal that hangs cannot keep it leading (the request is aborted at
//   the deadline, and leadership ends then whatever the request does).
// - A renewal counts from the moment its request was sent, not when the answer came: the server
//   wrote the lease somewhere in between, and followers start their expiry clock no earlier.
// - On shutdown the leader writes an empty holder: a successor takes over at its next read instead
//   of waiting out the lease.
// - Optionally a watch on the Lease feeds observe(): a follower then sees each renewal when it
//   happens instead of at its next poll, and schedules its next attempt for the exact moment the
//   lease expires (or at once when it was released).
//
// Timings are validated when the elector is built (client-go's NewLeaderElector rules): lease
// duration > renew deadline > JITTER_FACTOR × retry period, and a renew period and request timeout
// that leave room for a retry before the deadline.

import { type Clock, systemClock } from "../clock.ts";
import { isJsonObject, type JsonObject } from "../core/workload.ts";
import type { Logger } from "../log.ts";
import { collectionPath, objectPath } from "./paths.ts";
import { KubeApiError, type KubeRest } from "./rest.ts";

/** How the elector times itself, and who it is; the same for every Lease it may hold. */
export interface LeaseTimings {
  /** Unique per process: pod name (or hostname) plus pid. */
  identity: string;
  leaseDurationSeconds: number;
  /** How often the leader renews. */
  renewPeriodSeconds: number;
  /** How long the leader keeps leading without a successful renewal; below leaseDuration. */
  renewDeadlineSeconds: number;
  /** How often a follower checks the Lease, and a leader retries a failed renewal. */
  retryPeriodSeconds: number;
  /** Longest wait for one Lease request; at most leaseDuration − renewDeadline. */
  requestTimeoutSeconds: number;
}

export interface LeaderElectionSettings extends LeaseTimings {
  /** The Lease's namespace (the release namespace). */
  namespace: string;
  /** The Lease's name. */
  name: string;
}

export interface LeaderElectorOptions {
  rest: KubeRest;
  settings: LeaderElectionSettings;
  logger: Logger;
  onStartedLeading?: () => void;
  onStoppedLeading?: () => void;
  /** Monotonic time and timers; a fake clock in tests. */
  clock?: Clock;
  /** Wall time for the Lease's renewTime/acquireTime; only humans and other tools read those. */
  wallNow?: () => Date;
  /** Defaults to Math.random; tests pass a constant. */
  random?: () => number;
}

/** client-go's leaderelection.JitterFactor: a follower waits retryPeriod × (1 + up to 1.2). */
const JITTER_FACTOR = 1.2;

/** A timing combination that could make two leaders or a leader that never renews in time. */
export class LeaderElectionTimingError extends RangeError {
  readonly setting: keyof LeaderElectionSettings;

  constructor(setting: keyof LeaderElectionSettings, problem: string) {
    super(`leader election ${setting}: ${problem}`);
    this.name = "LeaderElectionTimingError";
    this.setting = setting;
  }
}

/** Throws a LeaderElectionTimingError naming the first timing that breaks a rule. */
export function validateLeaderElectionTimings(s: LeaderElectionSettings): void {
  const timings = [
    "leaseDurationSeconds",
    "renewDeadlineSeconds",
    "renewPeriodSeconds",
    "retryPeriodSeconds",
    "requestTimeoutSeconds",
  ] as const;
  for (const key of timings) {
    if (!(Number.isFinite(s[key]) && s[key] > 0))
      throw new LeaderElectionTimingError(key, `must be a number of seconds above 0, got ${s[key]}`);
  }
  if (s.leaseDurationSeconds <= s.renewDeadlineSeconds)
    throw new LeaderElectionTimingError(
      "renewDeadlineSeconds",
      `must be below leaseDurationSeconds (${s.leaseDurationSeconds}), got ${s.renewDeadlineSeconds}`,
    );
  if (s.renewDeadlineSeconds <= JITTER_FACTOR * s.retryPeriodSeconds)
    throw new LeaderElectionTimingError(
      "retryPeriodSeconds",
      `× ${JITTER_FACTOR} (jitter) must be below renewDeadlineSeconds (${s.renewDeadlineSeconds}), got ${s.retryPeriodSeconds}`,
    );
  if (s.renewPeriodSeconds >= s.renewDeadlineSeconds)
    throw new LeaderElectionTimingError(
      "renewPeriodSeconds",
      `must be below renewDeadlineSeconds (${s.renewDeadlineSeconds}), got ${s.renewPeriodSeconds}`,
    );
  // A write started just before the deadline must end before anyone else may hold the lease.
  const room = s.leaseDurationSeconds - s.renewDeadlineSeconds;
  if (s.requestTimeoutSeconds > room)
    throw new LeaderElectionTimingError(
      "requestTimeoutSeconds",
      `must be at most leaseDurationSeconds − renewDeadlineSeconds (${room}), got ${s.requestTimeoutSeconds}`,
    );
}

/**
 * A follower wakes this long after the moment it computed the lease to expire: timers and the
 * monotonic clock may disagree by a millisecond, and a round that wakes a hair early finds the
 * lease still valid and would sleep a whole retry period.
 */
const EXPIRY_MARGIN_MS = 50;

interface Observed {
  record: string;
  at: number;
}

export class LeaderElector {
  readonly #rest: KubeRest;
  readonly #settings: LeaderElectionSettings;
  readonly #logger: Logger;
  readonly #options: LeaderElectorOptions;
  readonly #clock: Clock;
  readonly #wallNow: () => Date;
  readonly #random: () => number;
  readonly #path: string;
  #leader = false;
  /** When the latest successful renewal was sent; leadership ends renewDeadline after it. */
  #lastRenew = 0;
  #observed: Observed | undefined;
  /** When the lease held by someone else runs out, by our clock; 0 when unknown or free. */
  #expiresAt = 0;
  #cancelTimer: (() => void) | undefined;
  #cancelDeadline: (() => void) | undefined;
  #inFlight: AbortController | undefined;
  #lastRoundFailed = false;
  #tick: Promise<void> | undefined;
  #stopped = true;

  constructor(options: LeaderElectorOptions) {
    validateLeaderElectionTimings(options.settings);
    this.#options = options;
    this.#rest = options.rest;
    this.#settings = options.settings;
    this.#logger = options.logger;
    this.#clock = options.clock ?? systemClock;
    this.#wallNow = options.wallNow ?? (() => new Date());
    this.#random = options.random ?? Math.random;
    const { namespace, name } = options.settings;
    this.#path = objectPath("Lease", namespace, name);
  }

  /** True only while the latest renewal is younger than the renew deadline, by the clock. */
  isLeader(): boolean {
    return this.#leader && this.#clock.now() < this.#deadline();
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#schedule(0);
  }

  /** Stops campaigning; a leader steps down first, then hands the lease over by emptying it. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    await this.#tick;
    const wasLeader = this.isLeader();
    this.#setLeader(false);
    if (wasLeader) await this.#release();
  }

  /** A Lease seen by a watch: note when its record changed and wake a follower when it expires. */
  observe(lease: JsonObject): void {
    if (this.#stopped || this.#leader) return;
    const seen = this.#note(lease);
    if (seen.holder === this.#settings.identity || this.#tick !== undefined) return;
    const due = seen.holder === "" ? 0 : seen.expiresAt - this.#clock.now() + EXPIRY_MARGIN_MS;
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    this.#schedule(Math.max(0, due));
  }

  #deadline(): number {
    return this.#lastRenew + this.#settings.renewDeadlineSeconds * 1000;
  }

  /** Records when the lease's record last changed, by this process's clock. */
  #note(lease: JsonObject): { holder: string; expiresAt: number } {
    const spec = isJsonObject(lease.spec) ? lease.spec : {};
    const metadata = isJsonObject(lease.metadata) ? lease.metadata : {};
    const holder = typeof spec.holderIdentity === "string" ? spec.holderIdentity : "";
    const record = JSON.stringify([holder, spec.renewTime, metadata.resourceVersion]);
    if (this.#observed?.record !== record) this.#observed = { record, at: this.#clock.now() };
    const duration = typeof spec.leaseDurationSeconds === "number" ? spec.leaseDurationSeconds : 0;
    const expiresAt = this.#observed.at + duration * 1000;
    this.#expiresAt = holder === "" || holder === this.#settings.identity ? 0 : expiresAt;
    return { holder, expiresAt };
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#cancelTimer = this.#clock.schedule(() => {
      this.#cancelTimer = undefined;
      this.#tick = this.#round().finally(() => {
        this.#tick = undefined;
        this.#schedule(this.#nextDelay());
      });
    }, delayMs);
  }

  #nextDelay(): number {
    const { renewPeriodSeconds, retryPeriodSeconds } = this.#settings;
    if (this.#leader) return (this.#lastRoundFailed ? retryPeriodSeconds : renewPeriodSeconds) * 1000;
    // A follower retries every retry period plus jitter, or right when the current lease runs out.
    const retry = retryPeriodSeconds * 1000 * (1 + this.#random() * JITTER_FACTOR);
    const untilExpiry = this.#expiresAt - this.#clock.now() + EXPIRY_MARGIN_MS;
    return this.#expiresAt === 0 ? retry : Math.max(0, Math.min(retry, untilExpiry));
  }

  async #round(): Promise<void> {
    const sentAt = this.#clock.now();
    // A leader's requests may not outlast its deadline; anyone's not the request timeout.
    const timeoutMs = this.#settings.requestTimeoutSeconds * 1000;
    const budget = this.#leader ? Math.min(timeoutMs, this.#deadline() - sentAt) : timeoutMs;
    const controller = new AbortController();
    this.#inFlight = controller;
    const cancel = this.#clock.schedule(
      () => controller.abort(new LeaseRequestTimeout(this.#settings.name, budget)),
      Math.max(0, budget),
    );
    let held: boolean;
    try {
      held = await this.#tryAcquireOrRenew(controller.signal);
    } catch (error) {
      // Unreachable, refused, or cut at the deadline: a leader keeps leading only until then.
      this.#logger.warn({ err: error, lease: this.#settings.name }, "leader election: lease request failed");
      held = false;
    } finally {
      cancel();
      this.#inFlight = undefined;
    }
    this.#lastRoundFailed = !held;
    // Stepped down at the deadline while this round was in flight: an answer that came too late
    // was aborted; only one that beat the abort counts, and then from when it was sent.
    if (held && !this.#stopped) {
      this.#renewed(sentAt);
      return;
    }
    if (this.#leader && !this.isLeader()) this.#stepDown("could not renew before the deadline");
  }

  #renewed(sentAt: number): void {
    // An answer that arrives past the deadline it was sent under proves nothing about now.
    if (this.#clock.now() >= sentAt + this.#settings.renewDeadlineSeconds * 1000) return;
    this.#lastRenew = sentAt;
    this.#cancelDeadline?.();
    this.#cancelDeadline = this.#clock.schedule(
      () => this.#stepDown("could not renew before the deadline"),
      Math.max(0, this.#deadline() - this.#clock.now()),
    );
    if (!this.#leader) this.#setLeader(true);
  }

  #stepDown(why: string): void {
    if (!this.#leader) return;
    this.#logger.warn({ lease: this.#settings.name }, `leader election: ${why}`);
    this.#inFlight?.abort(new LeaseRequestTimeout(this.#settings.name, 0));
    this.#setLeader(false);
  }

  #setLeader(leader: boolean): void {
    if (this.#leader === leader) return;
    this.#leader = leader;
    if (!leader) {
      this.#cancelDeadline?.();
      this.#cancelDeadline = undefined;
    }
    this.#logger.info(
      { identity: this.#settings.identity, leader },
      leader ? "became leader" : "stopped leading",
    );
    if (leader) this.#options.onStartedLeading?.();
    else this.#options.onStoppedLeading?.();
  }

  /** One round: true when this process holds the lease afterwards. */
  async #tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const now = this.#clock.now();
    const lease = await this.#rest.getOptional(this.#path, undefined, { signal });
    if (lease === undefined) return this.#create(signal);

    const spec = isJsonObject(lease.spec) ? lease.spec : {};
    const { holder, expiresAt } = this.#note(lease);
    const me = this.#settings.identity;

    if (holder !== "" && holder !== me && now < expiresAt) {
      // Someone else holds it (we must have missed the deadline): stop at once.
      this.#stepDown(`the lease is held by ${holder}`);
      return false;
    }

    const timestamp = microTime(this.#wallNow());
    const transitions = typeof spec.leaseTransitions === "number" ? spec.leaseTransitions : 0;
    const updated: JsonObject = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: me,
        leaseDurationSeconds: this.#settings.leaseDurationSeconds,
        renewTime: timestamp,
        acquireTime: holder === me && typeof spec.acquireTime === "string" ? spec.acquireTime : timestamp,
        leaseTransitions: holder === me ? transitions : transitions + 1,
      },
    };
    try {
      // PUT carries metadata.resourceVersion: a concurrent writer makes this fail with 409.
      await this.#rest.replace(this.#path, updated, { signal });
      return true;
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 409) return false;
      throw error;
    }
  }

  async #create(signal: AbortSignal): Promise<boolean> {
    const timestamp = microTime(this.#wallNow());
    const { namespace, name } = this.#settings;
    try {
      await this.#rest.create(
        collectionPath("Lease", namespace),
        {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name, namespace },
          spec: {
            holderIdentity: this.#settings.identity,
            leaseDurationSeconds: this.#settings.leaseDurationSeconds,
            acquireTime: timestamp,
            renewTime: timestamp,
            leaseTransitions: 0,
          },
        },
        { signal },
      );
      return true;
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 409) return false;
      throw error;
    }
  }

  async #release(): Promise<void> {
    const controller = new AbortController();
    const cancel = this.#clock.schedule(
      () =>
        controller.abort(
          new LeaseRequestTimeout(this.#settings.name, this.#settings.requestTimeoutSeconds * 1000),
        ),
      this.#settings.requestTimeoutSeconds * 1000,
    );
    const call = { signal: controller.signal };
    try {
      const lease = await this.#rest.getOptional(this.#path, undefined, call);
      if (lease === undefined) return;
      const spec = isJsonObject(lease.spec) ? lease.spec : {};
      if (spec.holderIdentity !== this.#settings.identity) return;
      const timestamp = microTime(this.#wallNow());
      await this.#rest.replace(
        this.#path,
        {
          ...lease,
          spec: {
            ...spec,
            holderIdentity: "",
            leaseDurationSeconds: 1,
            renewTime: timestamp,
            acquireTime: timestamp,
          },
        },
        call,
      );
      this.#logger.info({ lease: this.#settings.name }, "leader election: lease released");
    } catch (error) {
      // Not fatal: the lease then simply expires after its duration.
      this.#logger.warn(
        { err: error, lease: this.#settings.name },
        "leader election: could not release the lease",
      );
    } finally {
      cancel();
    }
  }
}

/** Why a Lease request was aborted: its time ran out (or the deadline it served passed). */
class LeaseRequestTimeout extends Error {
  constructor(lease: string, ms: number) {
    super(`lease ${lease}: request aborted after ${Math.round(ms)} ms`);
    this.name = "LeaseRequestTimeout";
  }
}

/** metav1.MicroTime: RFC 3339 with exactly six fractional digits. */
function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}
