// All tracked (annotated, persisted) workloads → every DaemonSet and mirrored pull Secret prepull
// should own, recomputed from scratch each time. Reference counting falls out of that: an image is
// in a DaemonSet iff some tracked workload with that placement uses it, a group without images has
// no DaemonSet, and the adapter deletes what it owns but no longer finds here.
//
// Pull secrets never leave their namespace's pods: the kubelet tries every imagePullSecret of a
// pod for every image of it, so a DaemonSet carrying two namespaces' mirrored secrets would pull
// one tenant's image with another's credentials (and its status would tell the first whether the
// second's registry has it). With mirrorPullSecrets, a workload with pull secrets is grouped by
// placement and namespace; workloads without any keep sharing one DaemonSet per placement.
//
// Deterministic: input order does not matter and the output is sorted (DaemonSets, containers and
// Secrets by name, workloads by kind/namespace/name), so equal inputs give byte-identical JSON.
import type { DaemonSetManifest, PrepullSettings } from "./daemonset.ts";
import { daemonSetManifest, daemonSetName, imageContainers, shardImages } from "./daemonset.ts";
import { compareStrings, sha256Hex } from "./hash.ts";
import { nonLinuxReason } from "./linux-only.ts";
import type { Placement } from "./placement.ts";
import { canonicalPlacement, placementKey } from "./placement.ts";
import type { WorkloadKey } from "./workload.ts";

export type { PrepullSettings } from "./daemonset.ts";

export interface TrackedWorkload {
  key: WorkloadKey;
  /** Canonical, normalised references. */
  images: string[];
  placement: Placement;
  /** imagePullSecrets names, in the workload's namespace. */
  pullSecrets: string[];
}

export interface DesiredStateInput {
  workloads: readonly TrackedWorkload[];
  settings: PrepullSettings;
}

export interface SecretRef {
  namespace: string;
  name: string;
}

/** Copy `source` into the release namespace as `name`; `daemonSets` reference it. */
export interface MirroredSecretPlan {
  name: string;
  source: SecretRef;
  daemonSets: string[];
}

/** Where one image of a workload is pulled: container `container` of DaemonSet `daemonSet`. */
interface ImageLocation {
  image: string;
  daemonSet: string;
  container: string;
}

export interface WorkloadImages {
  workload: WorkloadKey;
  /** workloadId(workload), for lookups. */
  id: string;
  /** Sorted by image; empty when the workload has no images. */
  images: ImageLocation[];
  /** Set when prepull cannot pre-pull for this workload at all, saying why (for its status). */
  unsupported?: string;
}

export interface DesiredState {
  daemonSets: DaemonSetManifest[];
  secrets: MirroredSecretPlan[];
  imagesByWorkload: WorkloadImages[];
}

/** `Kind/namespace/name`: unique, since none of the three can contain a slash. */
export function workloadId(key: WorkloadKey): string {
  return `${key.kind}/${key.namespace}/${key.name}`;
}

/**
 * `prepull-pull-<namespace>-<name>-<10 hex>`, cut before the hash to stay a DNS-1123 subdomain of
 * at most 253 characters. The hash of `namespace/name` is always there: the readable part alone is
 * ambiguous (`a-b`/`c` and `a`/`b-c` read the same) and may be cut.
 */
export function mirroredSecretName(source: SecretRef): string {
  const hash = sha256Hex(`${source.namespace}/${source.name}`).slice(0, 10);
  const readable = `prepull-pull-${source.namespace}-${source.name}`;
  const head = readable.slice(0, 253 - 1 - hash.length).replace(/[-.]+$/, "");
  return `${head}-${hash}`;
}

/**
 * The placement key, or for a workload whose mirrored pull secrets its DaemonSet will carry, a
 * key of placement and namespace (16 hex digits of their hash, so names keep their shape).
 */
function groupKey(placement: string, tracked: TrackedWorkload, settings: PrepullSettings): string {
  const hasSecrets = tracked.pullSecrets.some((secret) => secret !== "");
  if (!settings.mirrorPullSecrets || !hasSecrets) return placement;
  return sha256Hex(`${placement}/${tracked.key.namespace}`).slice(0, 16);
}

interface Group {
  /** The placement key, or of placement and namespace (see groupKey). */
  key: string;
  placementKey: string;
  placement: Placement;
  /** image → ids of the workloads that put it in this group. */
  users: Map<string, Set<string>>;
}

export function desiredState(input: DesiredStateInput): DesiredState {
  const { settings } = input;
  const groups = new Map<string, Group>();
  const workloads = new Map<string, { key: WorkloadKey; secrets: Set<string>; unsupported?: string }>();

  for (const tracked of input.workloads) {
    const id = workloadId(tracked.key);
    const entry = workloads.get(id) ?? { key: { ...tracked.key }, secrets: new Set<string>() };
    workloads.set(id, entry);
    const unsupported = nonLinuxReason(tracked.placement);
    if (unsupported !== undefined) {
      entry.unsupported = unsupported;
      continue;
    }
    // The same workload twice (should not happen) is merged, so the result stays order-free.
    for (const secret of tracked.pullSecrets) if (secret !== "") entry.secrets.add(secret);
    const images = tracked.images.filter((image) => image !== "");
    if (images.length === 0) continue;
    const key = groupKey(placementKey(tracked.placement), tracked, settings);
    const group = groups.get(key) ?? {
      key,
      placementKey: placementKey(tracked.placement),
      placement: canonicalPlacement(tracked.placement),
      users: new Map(),
    };
    groups.set(key, group);
    for (const image of images) {
      const users = group.users.get(image) ?? new Set<string>();
      users.add(id);
      group.users.set(image, users);
    }
  }

  const baseNames = daemonSetKeys([...groups.keys()]);
  const daemonSets: DaemonSetManifest[] = [];
  const locations = new Map<string, ImageLocation[]>();
  const secretUsers = new Map<string, { source: SecretRef; daemonSets: Set<string> }>();

  for (const group of groups.values()) {
    for (const shard of shardImages([...group.users.keys()], settings.maxImagesPerDaemonSet)) {
      const name = daemonSetName(baseNames.get(group.key) ?? group.key, shard.id);
      const containers = imageContainers(shard.images);
      const shardWorkloads = new Set<string>();
      for (const { image, container } of containers) {
        for (const id of group.users.get(image) ?? []) {
          shardWorkloads.add(id);
          const list = locations.get(id) ?? [];
          list.push({ image, daemonSet: name, container });
          locations.set(id, list);
        }
      }
      const pullSecrets: string[] = [];
      if (settings.mirrorPullSecrets) {
        for (const id of shardWorkloads) {
          const workload = workloads.get(id);
          if (workload === undefined) continue;
          for (const secret of workload.secrets) {
            const source = { namespace: workload.key.namespace, name: secret };
            const mirror = mirroredSecretName(source);
            const users = secretUsers.get(mirror) ?? { source, daemonSets: new Set<string>() };
            users.daemonSets.add(name);
            secretUsers.set(mirror, users);
            pullSecrets.push(mirror);
          }
        }
      }
      daemonSets.push(
        daemonSetManifest({
          name,
          placementKey: group.placementKey,
          placement: group.placement,
          images: shard.images,
          pullSecrets,
          settings,
        }),
      );
    }
  }

  return {
    daemonSets: daemonSets.sort((a, b) => compareStrings(a.metadata.name, b.metadata.name)),
    secrets: [...secretUsers.entries()]
      .map(([name, { source, daemonSets: users }]) => ({
        name,
        source,
        daemonSets: [...users].sort(compareStrings),
      }))
      .sort((a, b) => compareStrings(a.name, b.name)),
    imagesByWorkload: [...workloads.entries()]
      .map(([id, { key, unsupported }]) => ({
        workload: key,
        id,
        images: (locations.get(id) ?? []).sort(
          (a, b) => compareStrings(a.image, b.image) || compareStrings(a.daemonSet, b.daemonSet),
        ),
        ...(unsupported === undefined ? {} : { unsupported }),
      }))
      .sort((a, b) => compareStrings(a.id, b.id)),
  };
}

/**
 * The key each group's DaemonSet name carries: its first 10 hex digits, or all 16 for the groups
 * whose first 10 collide (40 bits: about one chance in two million with a thousand groups). Only
 * colliding groups are affected, and only while the collision lasts.
 */
function daemonSetKeys(keys: readonly string[]): Map<string, string> {
  const short = (key: string) => key.slice(0, 10);
  const counts = new Map<string, number>();
  for (const key of keys) counts.set(short(key), (counts.get(short(key)) ?? 0) + 1);
  return new Map(keys.map((key) => [key, (counts.get(short(key)) ?? 0) > 1 ? key : short(key)]));
}
