// Continuous churn on annotated Deployments at a steady rate: create, change the image, scale,
// take the annotation off and put it back, delete. Seeded, so a run can be repeated. The driver
// keeps going through API outages (a failed operation is counted and the object re-read before it
// is touched again); what prepull must converge to is read back from the cluster at the end, so an
// operation whose outcome the driver never learned cannot skew the expectation.
import { setTimeout as sleep } from "node:timers/promises";
import type { KubeConfig } from "@kubernetes/client-node";
import type { JsonObject } from "../../src/core/workload.ts";
import { createKubeRest, isRetryable, KubeApiError, type KubeRest } from "../../src/kube/rest.ts";

/** Operations in flight at once, at most. */
const MAX_IN_FLIGHT = 8;

type ChurnOp = "create" | "image" | "scale" | "unannotate" | "annotate" | "delete";

export interface ChurnOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  /** How many Deployment names the churn cycles through. */
  names: number;
  opsPerSecond: number;
  seed: number;
}

export interface ChurnReport {
  done: Record<ChurnOp, number>;
  /** Operations the API refused or could not be reached for, by op. */
  failed: Record<ChurnOp, number>;
}

interface Known {
  exists: boolean;
  annotated: boolean;
  version: number;
  replicas: number;
}

/** mulberry32: a small, good-enough seeded PRNG. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export function churnImage(namespace: string, name: string, version: number): string {
  return `registry.example.com/faults/${namespace}/${name}:${version}`;
}

/** The prefix every churn image of `namespace` starts with. */
export function churnImagePrefix(namespace: string): string {
  return `registry.example.com/faults/${namespace}/`;
}

/** On the default pool only (amd64, untainted), so every workload's eligible nodes are the same. */
export const CHURN_NODE_SELECTOR = { "kubernetes.io/arch": "amd64" } as const;

function manifest(namespace: string, name: string, known: Known): JsonObject {
  const labels = { app: name };
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace, labels, ...(known.annotated ? { annotations: { prepull: "true" } } : {}) },
    spec: {
      replicas: known.replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          nodeSelector: { ...CHURN_NODE_SELECTOR },
          containers: [{ name: "main", image: churnImage(namespace, name, known.version) }],
        },
      },
    },
  };
}

export class Churn {
  readonly #options: ChurnOptions;
  readonly #rest: KubeRest;
  readonly #random: () => number;
  readonly #known = new Map<string, Known | "unknown">();
  readonly #report: ChurnReport;
  #running: Promise<void> | undefined;
  #stopping = false;
  #error: unknown;

  constructor(options: ChurnOptions) {
    this.#options = options;
    this.#rest = createKubeRest(options.kubeConfig);
    this.#random = random(options.seed);
    const zero = () => ({ create: 0, image: 0, scale: 0, unannotate: 0, annotate: 0, delete: 0 });
    this.#report = { done: zero(), failed: zero() };
    for (let i = 0; i < options.names; i++) this.#known.set(`w-${i}`, "unknown");
  }

  start(): void {
    this.#running ??= this.#loop();
  }

  /** Stops after the operations in flight; returns what was done. */
  async stop(): Promise<ChurnReport> {
    this.#stopping = true;
    await this.#running;
    if (this.#error !== undefined) throw this.#error;
    return structuredClone(this.#report);
  }

  report(): ChurnReport {
    return structuredClone(this.#report);
  }

  async #loop(): Promise<void> {
    const interval = 1000 / this.#options.opsPerSecond;
    const inFlight = new Map<string, Promise<void>>();
    let next = performance.now();
    while (!this.#stopping) {
      // A steady rate however long each call takes: up to MAX_IN_FLIGHT operations overlap, each on
      // a different workload. At the cap (an outage) the schedule slips instead of bursting later.
      const free = [...this.#known.keys()].filter((name) => !inFlight.has(name));
      if (inFlight.size < MAX_IN_FLIGHT && free.length > 0) {
        const name = free[Math.floor(this.#random() * free.length)] ?? "w-0";
        const step = this.#step(name)
          .catch((error: unknown) => {
            // Not an outage but a bug: stop the churn and let stop() report it.
            this.#error ??= error;
            this.#stopping = true;
          })
          .finally(() => inFlight.delete(name));
        inFlight.set(name, step);
      }
      next = Math.max(next + interval, performance.now());
      await sleep(Math.max(0, next - performance.now()));
    }
    await Promise.all(inFlight.values());
  }

  #path(name?: string): string {
    const base = `/apis/apps/v1/namespaces/${encodeURIComponent(this.#options.namespace)}/deployments`;
    return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
  }

  async #step(name: string): Promise<void> {
    let known = this.#known.get(name);
    if (known === "unknown" || known === undefined) {
      known = await this.#read(name);
      if (known === undefined) return;
    }
    const roll = this.#random();
    let op: ChurnOp;
    if (!known.exists) op = "create";
    else if (roll < 0.4) op = "image";
    else if (roll < 0.6) op = "scale";
    else if (roll < 0.8) op = known.annotated ? "unannotate" : "annotate";
    else op = "delete";

    const next: Known = { ...known };
    try {
      switch (op) {
        case "create":
          next.exists = true;
          next.annotated = this.#random() < 0.8;
          next.version = known.version + 1;
          next.replicas = 0;
          await this.#rest.create(this.#path(), manifest(this.#options.namespace, name, next));
          break;
        case "image":
          next.version = known.version + 1;
          await this.#rest.mergePatch(this.#path(name), {
            spec: {
              template: {
                spec: {
                  containers: [
                    { name: "main", image: churnImage(this.#options.namespace, name, next.version) },
                  ],
                },
              },
            },
          });
          break;
        case "scale":
          next.replicas = known.replicas === 0 ? 1 : 0;
          await this.#rest.mergePatch(this.#path(name), { spec: { replicas: next.replicas } });
          break;
        case "unannotate":
        case "annotate":
          next.annotated = op === "annotate";
          await this.#rest.mergePatch(this.#path(name), {
            metadata: { annotations: { prepull: next.annotated ? "true" : null } },
          });
          break;
        case "delete":
          next.exists = false;
          await this.#rest.delete(this.#path(name));
          break;
      }
      this.#known.set(name, next);
      this.#report.done[op]++;
    } catch (error) {
      if (!isExpectedFailure(error)) throw error;
      this.#report.failed[op]++;
      this.#known.set(name, "unknown");
    }
  }

  /** The object as the cluster has it; undefined when the API cannot say right now. */
  async #read(name: string): Promise<Known | undefined> {
    try {
      const object = await this.#rest.getOptional(this.#path(name));
      const known = object === undefined ? gone(this.#options.namespace, name) : knownOf(object);
      this.#known.set(name, known);
      return known;
    } catch (error) {
      if (!isExpectedFailure(error)) throw error;
      return undefined;
    }
  }
}

/** Versions keep counting up across delete and re-create, so an old image never comes back. */
const lastVersions = new Map<string, number>();

function gone(namespace: string, name: string): Known {
  return {
    exists: false,
    annotated: false,
    version: lastVersions.get(`${namespace}/${name}`) ?? 0,
    replicas: 0,
  };
}

function knownOf(object: JsonObject): Known {
  const metadata = (object.metadata ?? {}) as {
    annotations?: Record<string, string>;
    namespace?: string;
    name?: string;
  };
  const spec = (object.spec ?? {}) as {
    replicas?: number;
    template?: { spec?: { containers?: { image?: string }[] } };
  };
  const image = spec.template?.spec?.containers?.[0]?.image ?? "";
  const version = Number(image.slice(image.lastIndexOf(":") + 1)) || 0;
  lastVersions.set(`${metadata.namespace}/${metadata.name}`, version);
  return {
    exists: true,
    annotated: metadata.annotations?.prepull === "true",
    version,
    replicas: spec.replicas ?? 0,
  };
}

/**
 * An API that is down or restarting (fetch's TypeError), or that says no (a conflict with an object
 * the driver misremembered): part of the fault, not a bug in the driver.
 */
function isExpectedFailure(error: unknown): boolean {
  return error instanceof KubeApiError || isRetryable(error);
}
