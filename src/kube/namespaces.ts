// A cache of every Namespace's labels and annotations, from one cluster-wide list+watch.
//
// What reads it: placement bounds (a namespace's PodNodeSelector and PodTolerationRestriction
// annotations limit where prepull may pre-pull for its workloads), and anything else that decides
// per namespace. Only metadata is kept and only a change of labels or annotations is reported:
// a namespace's status (phase, conditions) changes during deletion and matters to nobody here.
import type { KubeConfig } from "@kubernetes/client-node";
import { isJsonObject, type JsonObject } from "../core/workload.ts";
import type { Logger } from "../log.ts";
import { collectionPath } from "./paths.ts";
import type { KubeRest } from "./rest.ts";
import { type CachedObject, ResourceWatch, type WatchEventType } from "./watch.ts";

export interface NamespaceMetadata {
  name: string;
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
}

export interface NamespaceCacheOptions {
  kubeConfig: KubeConfig;
  rest: KubeRest;
  logger: Logger;
  /** A namespace appeared, went, or changed its labels or annotations; and after every (re-)list. */
  onChange: (name: string | undefined) => void;
}

export class NamespaceCache {
  readonly #watch: ResourceWatch;
  /** name → JSON of its labels and annotations, to tell metadata changes from status updates. */
  readonly #seen = new Map<string, string>();

  constructor(options: NamespaceCacheOptions) {
    const { kubeConfig, rest, logger, onChange } = options;
    this.#watch = new ResourceWatch({
      kubeConfig,
      rest,
      logger,
      path: collectionPath("Namespace"),
      onEvent: (type, object) => {
        if (this.#changed(type, object)) onChange(object.metadata?.name);
      },
      onListed: () => onChange(undefined),
    });
  }

  start(): void {
    this.#watch.start();
  }

  stop(): Promise<void> {
    return this.#watch.stop();
  }

  /** The first complete list is in the cache. */
  listed(): boolean {
    return this.#watch.listed();
  }

  /** The namespace's metadata, or undefined when it does not exist (or is not seen yet). */
  get(name: string): NamespaceMetadata | undefined {
    const object = this.#watch.get(name);
    return object === undefined ? undefined : metadataOf(object);
  }

  #changed(type: WatchEventType, object: CachedObject): boolean {
    const name = object.metadata?.name ?? "";
    const before = this.#seen.get(name);
    if (type === "delete") {
      this.#seen.delete(name);
      return true;
    }
    const { labels, annotations } = metadataOf(object);
    const after = JSON.stringify([labels, annotations]);
    this.#seen.set(name, after);
    return before !== after;
  }
}

function metadataOf(object: JsonObject): NamespaceMetadata {
  const metadata = isJsonObject(object.metadata) ? object.metadata : {};
  return {
    name: typeof metadata.name === "string" ? metadata.name : "",
    labels: stringsOf(metadata.labels),
    annotations: stringsOf(metadata.annotations),
  };
}

function stringsOf(value: unknown): Record<string, string> {
  if (!isJsonObject(value)) return {};
  const out: Record<string, string> = {};
  for (const [key, inner] of Object.entries(value)) if (typeof inner === "string") out[key] = inner;
  return out;
}
