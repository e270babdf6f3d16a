// Lease-based leader election (coordination.k8s.io/v1), the algorithm of client-go's
// leaderelection package: one Lease object, updated with resourceVersion preconditions so two
// replicas can never both win the same round.
//
// - A follower reads the Lease every retry period. The lease counts as expired when its record
//   (holder, renewTime, resourceVersion) has not changed for leaseDuration by the follower's own
//   monotonic clock since it first saw that record. Never comparing against the holder's renewTime
//   means clock skew between machines cannot make two leaders.
// - The leader renews every renew period and steps down by itself when it could not renew for
//   renewDeadline (< leaseDuration), so it stops writing before anyone else may take over.
// - On shutdown the leader writes an empty holder: a successor takes over at its next read instead
//   of waiting out the lease.
// - Optionally a watch on the Lease feeds observe(): a follower then sees each renewal when it
//   happens instead of at its next poll, and schedules its next attempt for the exact moment the
//   lease expires (or at once when it was released). Takeover after a leader dies then takes at
//   most leaseDuration from its last renewal; without the watch, up to two retry periods more.

import { isJsonObject, type JsonObject } from "../core/workload.ts";
import type { Logger } from "../log.ts";
import { KubeApiError, type KubeRest } from "./rest.ts";

export interface LeaderElectionSettings {
  /** The Lease's namespace (the release namespace). */
  namespace: string;
  /** The Lease's name. */
  name: string;
  /** Unique per process: pod name (or hostname) plus pid. */
  identity: string;
  leaseDurationSeconds: number;
  /** How often the leader renews. */
  renewPeriodSeconds: number;
  /** How long the leader keeps leading without a successful renewal; below leaseDuration. */
  renewDeadlineSeconds: number;
  /** How often a follower checks the Lease. */
  retryPeriodSeconds: number;
}

export interface LeaderElectorOptions {
  rest: KubeRest;
  settings: LeaderElectionSettings;
  logger: Logger;
  onStartedLeading?: () => void;
  onStoppedLeading?: () => void;
  /** Monotonic milliseconds; injectable for tests. */
  monotonicNow?: () => number;
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
  readonly #now: () => number;
  readonly #path: string;
  #leader = false;
  #lastRenew = 0;
  #observed: Observed | undefined;
  /** When the lease held by someone else runs out, by our clock; 0 when unknown or free. */
  #expiresAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #tick: Promise<void> | undefined;
  #stopped = true;

  constructor(options: LeaderElectorOptions) {
    this.#options = options;
    this.#rest = options.rest;
    this.#settings = options.settings;
    this.#logger = options.logger;
    this.#now = options.monotonicNow ?? (() => performance.now());
    const { namespace, name } = options.settings;
    this.#path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases/${encodeURIComponent(name)}`;
  }

  isLeader(): boolean {
    return this.#leader;
  }

  identity(): string {
    return this.#settings.identity;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#schedule(0);
  }

  /** Stops campaigning; a leader steps down first, then hands the lease over by emptying it. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#tick;
    if (!this.#leader) return;
    this.#setLeader(false);
    await this.#release();
  }

  /** A Lease seen by a watch: note when its record changed and wake a follower when it expires. */
  observe(lease: JsonObject): void {
    if (this.#stopped || this.#leader) return;
    const seen = this.#note(lease);
    if (seen.holder === this.#settings.identity || this.#tick !== undefined) return;
    const due = seen.holder === "" ? 0 : seen.expiresAt - this.#now() + EXPIRY_MARGIN_MS;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#schedule(Math.max(0, due));
  }

  /** Records when the lease's record last changed, by this process's clock. */
  #note(lease: JsonObject): { holder: string; expiresAt: number } {
    const spec = isJsonObject(lease.spec) ? lease.spec : {};
    const metadata = isJsonObject(lease.metadata) ? lease.metadata : {};
    const holder = typeof spec.holderIdentity === "string" ? spec.holderIdentity : "";
    const record = JSON.stringify([holder, spec.renewTime, metadata.resourceVersion]);
    if (this.#observed?.record !== record) this.#observed = { record, at: this.#now() };
    const duration = typeof spec.leaseDurationSeconds === "number" ? spec.leaseDurationSeconds : 0;
    const expiresAt = this.#observed.at + duration * 1000;
    this.#expiresAt = holder === "" || holder === this.#settings.identity ? 0 : expiresAt;
    return { holder, expiresAt };
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#tick = this.#round().finally(() => {
        this.#tick = undefined;
        if (this.#leader) {
          this.#schedule(this.#settings.renewPeriodSeconds * 1000);
          return;
        }
        // A follower retries every retry period, or right when the current lease runs out.
        const retry = this.#settings.retryPeriodSeconds * 1000;
        const untilExpiry = this.#expiresAt - this.#now() + EXPIRY_MARGIN_MS;
        this.#schedule(this.#expiresAt === 0 ? retry : Math.max(0, Math.min(retry, untilExpiry)));
      });
    }, delayMs);
  }

  async #round(): Promise<void> {
    let held: boolean;
    try {
      held = await this.#tryAcquireOrRenew();
    } catch (error) {
      // The API is unreachable or refused: keep leading only until the renew deadline.
      this.#logger.warn({ err: error, lease: this.#settings.name }, "leader election: lease request failed");
      held = false;
    }
    if (held) {
      this.#lastRenew = this.#now();
      if (!this.#leader) this.#setLeader(true);
      return;
    }
    if (this.#leader && this.#now() - this.#lastRenew > this.#settings.renewDeadlineSeconds * 1000) {
      this.#logger.warn(
        { lease: this.#settings.name },
        "leader election: could not renew before the deadline",
      );
      this.#setLeader(false);
    }
  }

  #setLeader(leader: boolean): void {
    if (this.#leader === leader) return;
    this.#leader = leader;
    this.#logger.info(
      { identity: this.#settings.identity, leader },
      leader ? "became leader" : "stopped leading",
    );
    if (leader) this.#options.onStartedLeading?.();
    else this.#options.onStoppedLeading?.();
  }

  /** One round: true when this process holds the lease afterwards. */
  async #tryAcquireOrRenew(): Promise<boolean> {
    const now = this.#now();
    const lease = await this.#rest.getOptional(this.#path);
    if (lease === undefined) return this.#create();

    const spec = isJsonObject(lease.spec) ? lease.spec : {};
    const { holder, expiresAt } = this.#note(lease);
    const me = this.#settings.identity;

    if (holder !== "" && holder !== me && now < expiresAt) {
      if (this.#leader) {
        // Someone else holds it (we must have missed the deadline): stop at once.
        this.#setLeader(false);
      }
      return false;
    }

    const timestamp = microTime(new Date());
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
      await this.#rest.replace(this.#path, updated);
      return true;
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 409) return false;
      throw error;
    }
  }

  async #create(): Promise<boolean> {
    const timestamp = microTime(new Date());
    const { namespace, name } = this.#settings;
    try {
      await this.#rest.create(
        `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`,
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
      );
      return true;
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 409) return false;
      throw error;
    }
  }

  async #release(): Promise<void> {
    try {
      const lease = await this.#rest.getOptional(this.#path);
      if (lease === undefined) return;
      const spec = isJsonObject(lease.spec) ? lease.spec : {};
      if (spec.holderIdentity !== this.#settings.identity) return;
      const timestamp = microTime(new Date());
      await this.#rest.replace(this.#path, {
        ...lease,
        spec: {
          ...spec,
          holderIdentity: "",
          leaseDurationSeconds: 1,
          renewTime: timestamp,
          acquireTime: timestamp,
        },
      });
      this.#logger.info({ lease: this.#settings.name }, "leader election: lease released");
    } catch (error) {
      // Not fatal: the lease then simply expires after its duration.
      this.#logger.warn(
        { err: error, lease: this.#settings.name },
        "leader election: could not release the lease",
      );
    }
  }
}

/** metav1.MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}
