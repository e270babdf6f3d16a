// One placement group (or one shard of it) and its images → the apps/v1 DaemonSet that makes the
// kubelet of every node in that placement pull them. Pure and deterministic: the same input gives
// a byte-identical manifest, so server-side apply of an unchanged state is a no-op.
//
// How a pod of this DaemonSet pre-pulls without running anything from the target images:
// 1. init container `install-sleeper` runs prepull's own image as
//    `<sleeperPath> install /prepull/bin/sleep`. Contract with that binary (cmd/prepull-sleep):
//    `install <dest>` copies the binary itself to <dest> as an executable and exits 0. The binary
//    does the copy because prepull's image is distroless: there is no `cp` or shell to do it.
// 2. one regular container per image, `imagePullPolicy: IfNotPresent`, command
//    `/prepull/bin/sleep` from the read-only emptyDir. Invoked with no arguments the binary sleeps
//    until SIGTERM and exits 0 at once on it. So images without a shell work, the image stays in
//    use by a container (which protects it from kubelet image GC), and an image that cannot be
//    pulled only fails its own container.
//
// What a pod reserves on its node stays constant whatever its image count. Kubernetes fact: a
// pod's effective request is max(sum of its containers' requests, largest init container request)
// (plus overhead), and the scheduler places the pod whole. So the pod's requests are carried by
// the init container alone, and every image container requests 0 explicitly (left unset, a
// request defaults to the limit). Every container keeps a limit, so one misbehaving sleeper cannot
// take the node's memory. Limits must clear runc's start-up peak (runc init runs inside the
// container's cgroup; upstream reports OOM kills at a 10 MiB limit), hence 32Mi by default.
//
// The manifest is written the way the apiserver stores it (canonical quantities, no
// `readOnly: false`, which it drops as a zero value), so comparing it with the stored object
// after a restart finds no difference when there is none.
import { compareStrings, hexBit, sha256Hex } from "./hash.ts";
import type { NodeSelectorRequirement, Placement, Toleration } from "./placement.ts";
import { canonicalPlacement } from "./placement.ts";
import { canonicalQuantity, compareQuantities } from "./quantity.ts";

export interface PrepullSettings {
  /** The release namespace: every DaemonSet and mirrored Secret lives here. */
  namespace: string;
  releaseName?: string;
  /** prepull's own image, holding the no-op binary. */
  sleeperImage: string;
  /** Path of the binary inside sleeperImage, e.g. /usr/local/bin/prepull-sleep. */
  sleeperPath: string;
  /** Secrets in the release namespace for pulling sleeperImage, when it is private. */
  sleeperPullSecrets?: string[];
  priorityClassName?: string;
  /** A percentage ("100%") or a count ("5"); "100%" rolls every node at once. */
  maxUnavailable: string;
  /** 0 = unlimited. */
  maxImagesPerDaemonSet: number;
  mirrorPullSecrets: boolean;
  /** Limits of every container, init included; image containers request nothing. */
  resources: ResourceList;
  /** What each pre-pull pod reserves on its node whatever its image count (the init container's requests). */
  podRequests?: ResourceList;
  /**
   * Tolerated by every pre-pull pod besides its group's own tolerations: the node gate's startup
   * taint, so the pods pull on a gated node while workload pods stay away.
   */
  extraTolerations?: Toleration[];
}

/** Each pre-pull pod's reservation when the settings name none: the sleepers only sleep. */
const DEFAULT_POD_REQUESTS: ResourceList = { cpu: "1m", memory: "16Mi" };
/** An image container's requests: nothing, so the pod's total is the init container's. */
const NO_REQUESTS: ResourceList = { cpu: "0", memory: "0" };

export interface ContainerManifest {
  name: string;
  image: string;
  imagePullPolicy: "IfNotPresent";
  command: string[];
  resources: { requests: ResourceList; limits: ResourceList };
  securityContext: ContainerSecurityContext;
  /** readOnly only when true: the apiserver drops a false (a zero value) when it stores the pod template. */
  volumeMounts: { name: string; mountPath: string; readOnly?: true }[];
}

interface ResourceList {
  cpu: string;
  memory: string;
}

interface ContainerSecurityContext {
  runAsNonRoot: true;
  runAsUser: number;
  runAsGroup: number;
  readOnlyRootFilesystem: true;
  allowPrivilegeEscalation: false;
  capabilities: { drop: ["ALL"] };
  seccompProfile: { type: "RuntimeDefault" };
}

interface ManifestRequirement {
  key: string;
  operator: string;
  values?: string[];
}

interface ManifestTerm {
  matchExpressions?: ManifestRequirement[];
  matchFields?: ManifestRequirement[];
}

interface ManifestToleration {
  key?: string;
  operator: string;
  value?: string;
  effect?: string;
}

interface PodSpecManifest {
  automountServiceAccountToken: false;
  enableServiceLinks: false;
  terminationGracePeriodSeconds: number;
  priorityClassName?: string;
  nodeSelector: Record<string, string>;
  affinity?: {
    nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: ManifestTerm[] } };
  };
  tolerations?: ManifestToleration[];
  imagePullSecrets?: { name: string }[];
  securityContext: {
    runAsNonRoot: true;
    runAsUser: number;
    runAsGroup: number;
    seccompProfile: { type: "RuntimeDefault" };
  };
  initContainers: ContainerManifest[];
  containers: ContainerManifest[];
  volumes: { name: string; emptyDir: Record<string, never> }[];
}

export interface DaemonSetManifest {
  apiVersion: "apps/v1";
  kind: "DaemonSet";
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
  };
  spec: {
    selector: { matchLabels: Record<string, string> };
    revisionHistoryLimit: number;
    updateStrategy: { type: "RollingUpdate"; rollingUpdate: { maxUnavailable: string | number } };
    template: { metadata: { labels: Record<string, string> }; spec: PodSpecManifest };
  };
}

/** One image as a container of a DaemonSet. */
export interface ImageContainer {
  image: string;
  container: string;
}

export interface DaemonSetInput {
  name: string;
  placementKey: string;
  placement: Placement;
  images: readonly string[];
  /** Secret names in the release namespace, beside settings.sleeperPullSecrets. */
  pullSecrets: readonly string[];
  settings: PrepullSettings;
}

const LABEL_NAME = "app.kubernetes.io/name";
const LABEL_MANAGED_BY = "app.kubernetes.io/managed-by";
const LABEL_COMPONENT = "app.kubernetes.io/component";
const LABEL_INSTANCE = "app.kubernetes.io/instance";
const LABEL_PLACEMENT = "prepull.dev/placement";
/** The selector label: one value per DaemonSet, so selectors never overlap. */
export const LABEL_DAEMONSET = "prepull.dev/daemonset";
const ANNOTATION_IMAGE_COUNT = "prepull.dev/image-count";

const INIT_CONTAINER_NAME = "install-sleeper";
const BIN_VOLUME = "prepull-bin";
const BIN_DIR = "/prepull/bin";
const SLEEP_BINARY = `${BIN_DIR}/sleep`;
/** The "nonroot" user of distroless images; any non-zero uid passes Pod Security "restricted". */
const RUN_AS_USER = 65532;

const NAME_PREFIX = "prepull-";
const CONTAINER_PREFIX = "img-";
const CONTAINER_HASH_LENGTH = 8;
/** 63 (DNS-1123 label) minus the prefix: the longest hash a container name can carry. */
const CONTAINER_HASH_MAX = 63 - CONTAINER_PREFIX.length;
/**
 * Shard suffixes are hash-bit prefixes; 32 bits keep the longest name
 * (`prepull-` + 16 + `-` + 32 = 57) inside 63. A shard that still holds more than the maximum at
 * that depth (more than N images sharing 32 hash bits) stays oversized rather than go unnamed.
 */
export const MAX_SHARD_DEPTH = 32;

/** The labels every object prepull owns carries; the adapter lists and prunes by these. */
export function ownedLabels(settings: PrepullSettings): Record<string, string> {
  const labels: Record<string, string> = {
    [LABEL_COMPONENT]: "image-cache",
    [LABEL_MANAGED_BY]: "prepull",
    [LABEL_NAME]: "prepull",
  };
  if (settings.releaseName !== undefined && settings.releaseName !== "") {
    labels[LABEL_INSTANCE] = settings.releaseName;
  }
  return sortedRecord(labels);
}

/** `prepull-<key>` with `-<shard>` when sharded; keys are hex and shards are bits, so DNS-1123. */
export function daemonSetName(key: string, shard: string): string {
  return shard === "" ? `${NAME_PREFIX}${key}` : `${NAME_PREFIX}${key}-${shard}`;
}

export interface Shard {
  /** "" when the group is not split; else the hash-bit prefix shared by its images ("0", "10"). */
  id: string;
  images: string[];
}

/**
 * Splits a group's images into shards of at most `max` (0 = no limit), stably.
 *
 * Approach (extendible hashing): every image has a fixed position, the bits of sha256(image).
 * Start from one shard holding all images; while a shard holds more than `max`, split it in two
 * by the next bit. The result depends only on the set, not on the order or on any earlier state.
 *
 * Stability: adding an image changes only the one shard whose bit prefix it falls into; that shard
 * either takes the image or splits (its images move to the children). Every other shard keeps
 * exactly its images and name. Removing an image touches only the smallest subtree around it that
 * falls back to `max` images: its shards merge into one; all others stay. The price is fill:
 * shards hold on average about 70 % of max, so there are more DaemonSets than ceil(count / max).
 */
export function shardImages(images: readonly string[], max: number): Shard[] {
  const unique = [...new Set(images)].sort(compareStrings);
  const limit = Number.isFinite(max) && max >= 1 ? Math.floor(max) : 0;
  if (unique.length === 0) return [];
  if (limit === 0 || unique.length <= limit) return [{ id: "", images: unique }];
  const hashed = unique.map((image) => ({ image, hash: sha256Hex(image) }));
  const shards: Shard[] = [];
  const split = (members: typeof hashed, prefix: string): void => {
    if (members.length === 0) return;
    if (members.length <= limit || prefix.length >= MAX_SHARD_DEPTH) {
      shards.push({ id: prefix, images: members.map((m) => m.image) });
      return;
    }
    const depth = prefix.length;
    split(
      members.filter((m) => hexBit(m.hash, depth) === 0),
      `${prefix}0`,
    );
    split(
      members.filter((m) => hexBit(m.hash, depth) === 1),
      `${prefix}1`,
    );
  };
  split(hashed, "");
  return shards.sort((a, b) => compareStrings(a.id, b.id));
}

/**
 * `img-<8 hex of sha256(image)>` for each image, sorted by container name. Two images of one
 * DaemonSet sharing those 8 digits both get the longest hash a name can hold instead, so names
 * stay unique (and only those two names depend on each other).
 */
export function imageContainers(images: readonly string[]): ImageContainer[] {
  const unique = [...new Set(images)];
  const hashes = new Map(unique.map((image) => [image, sha256Hex(image)]));
  const shortCount = new Map<string, number>();
  for (const hash of hashes.values()) {
    const short = hash.slice(0, CONTAINER_HASH_LENGTH);
    shortCount.set(short, (shortCount.get(short) ?? 0) + 1);
  }
  return unique
    .map((image) => {
      const hash = hashes.get(image) ?? sha256Hex(image);
      const short = hash.slice(0, CONTAINER_HASH_LENGTH);
      const length = (shortCount.get(short) ?? 0) > 1 ? CONTAINER_HASH_MAX : CONTAINER_HASH_LENGTH;
      return { image, container: `${CONTAINER_PREFIX}${hash.slice(0, length)}` };
    })
    .sort((a, b) => compareStrings(a.container, b.container));
}

export function daemonSetManifest(input: DaemonSetInput): DaemonSetManifest {
  const { settings } = input;
  const extra = settings.extraTolerations ?? [];
  const placement = canonicalPlacement(
    extra.length === 0
      ? input.placement
      : { ...input.placement, tolerations: [...input.placement.tolerations, ...extra] },
  );
  const selectorLabels = { [LABEL_DAEMONSET]: input.name };
  const labels = sortedRecord({
    ...ownedLabels(settings),
    [LABEL_PLACEMENT]: input.placementKey,
    ...selectorLabels,
  });
  const limits = storedResources(settings.resources);
  const container = (
    name: string,
    image: string,
    command: string[],
    requests: ResourceList,
    readOnly: boolean,
  ) =>
    ({
      name,
      image,
      imagePullPolicy: "IfNotPresent",
      command,
      resources: { requests: { ...requests }, limits: { ...limits } },
      securityContext: restrictedContainerContext(),
      volumeMounts: [{ name: BIN_VOLUME, mountPath: BIN_DIR, ...(readOnly ? { readOnly: true } : {}) }],
    }) satisfies ContainerManifest;

  const pullSecrets = [...new Set([...(settings.sleeperPullSecrets ?? []), ...input.pullSecrets])].sort(
    compareStrings,
  );
  const podSpec: PodSpecManifest = {
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    // The sleeper exits at once on SIGTERM; nothing to drain.
    terminationGracePeriodSeconds: 1,
    ...(settings.priorityClassName ? { priorityClassName: settings.priorityClassName } : {}),
    nodeSelector: nodeSelectorOf(placement),
    ...(placement.nodeSelectorTerms.length > 0
      ? {
          affinity: {
            nodeAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: {
                nodeSelectorTerms: placement.nodeSelectorTerms.map((term) => ({
                  ...(term.matchExpressions.length > 0
                    ? { matchExpressions: term.matchExpressions.map(requirementManifest) }
                    : {}),
                  ...(term.matchFields.length > 0
                    ? { matchFields: term.matchFields.map(requirementManifest) }
                    : {}),
                })),
              },
            },
          },
        }
      : {}),
    ...(placement.tolerations.length > 0
      ? { tolerations: placement.tolerations.map(tolerationManifest) }
      : {}),
    ...(pullSecrets.length > 0 ? { imagePullSecrets: pullSecrets.map((name) => ({ name })) } : {}),
    securityContext: {
      runAsNonRoot: true,
      runAsUser: RUN_AS_USER,
      runAsGroup: RUN_AS_USER,
      seccompProfile: { type: "RuntimeDefault" },
    },
    initContainers: [
      container(
        INIT_CONTAINER_NAME,
        settings.sleeperImage,
        [settings.sleeperPath, "install", SLEEP_BINARY],
        initRequests(settings.podRequests ?? DEFAULT_POD_REQUESTS, limits),
        false,
      ),
    ],
    containers: imageContainers(input.images).map((c) =>
      container(c.container, c.image, [SLEEP_BINARY], NO_REQUESTS, true),
    ),
    volumes: [{ name: BIN_VOLUME, emptyDir: {} }],
  };

  return {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: {
      name: input.name,
      namespace: settings.namespace,
      labels,
      // Counts only: no workload names or namespaces leak into the release namespace.
      annotations: { [ANNOTATION_IMAGE_COUNT]: String(podSpec.containers.length) },
    },
    spec: {
      selector: { matchLabels: selectorLabels },
      revisionHistoryLimit: 2,
      updateStrategy: {
        type: "RollingUpdate",
        rollingUpdate: { maxUnavailable: intOrPercent(settings.maxUnavailable) },
      },
      template: { metadata: { labels }, spec: podSpec },
    },
  };
}

function restrictedContainerContext(): ContainerSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: RUN_AS_USER,
    runAsGroup: RUN_AS_USER,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  };
}

/**
 * The placement's nodeSelector, plus `kubernetes.io/os: linux` when the placement does not name an
 * OS: the sleeper binary is a Linux executable, so a pod on a Windows node could never start.
 */
function nodeSelectorOf(placement: Placement): Record<string, string> {
  const selector = { ...placement.nodeSelector };
  if (selector["kubernetes.io/os"] === undefined) selector["kubernetes.io/os"] = "linux";
  return sortedRecord(selector);
}

function requirementManifest(r: NodeSelectorRequirement): ManifestRequirement {
  return r.values.length > 0
    ? { key: r.key, operator: r.operator, values: [...r.values] }
    : { key: r.key, operator: r.operator };
}

function tolerationManifest(t: Toleration): ManifestToleration {
  return {
    ...(t.key !== "" ? { key: t.key } : {}),
    operator: t.operator,
    ...(t.value !== "" ? { value: t.value } : {}),
    ...(t.effect !== "" ? { effect: t.effect } : {}),
  };
}

/**
 * The pod's requests, capped at the container limits: the apiserver refuses a request above its
 * limit (config.ts refuses such settings; this covers settings built without it).
 */
function initRequests(requests: ResourceList, limits: ResourceList): ResourceList {
  const stored = storedResources(requests);
  return {
    cpu: compareQuantities(stored.cpu, limits.cpu) > 0 ? limits.cpu : stored.cpu,
    memory: compareQuantities(stored.memory, limits.memory) > 0 ? limits.memory : stored.memory,
  };
}

/** Quantities as the apiserver stores them ("0.01" → "10m"); settings are validated before here. */
function storedResources(resources: ResourceList): ResourceList {
  return {
    cpu: canonicalQuantity(resources.cpu) ?? resources.cpu,
    memory: canonicalQuantity(resources.memory) ?? resources.memory,
  };
}

/** IntOrString: the API rejects a bare number written as a string ("5"), so send it as a number. */
function intOrPercent(value: string): string | number {
  const trimmed = value.trim();
  return /^\d+$/.test(trimmed) ? Number(trimmed) : trimmed;
}

function sortedRecord(record: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(record).sort(compareStrings)) {
    const value = record[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}
