import { describe, expect, it } from "vitest";
import type { ContainerManifest, Shard } from "../../src/core/daemonset.ts";
import {
  daemonSetManifest,
  daemonSetName,
  imageContainers,
  MAX_SHARD_DEPTH,
  shardImages,
} from "../../src/core/daemonset.ts";
import { placementKey, placementOf } from "../../src/core/placement.ts";
import { parseQuantity } from "../../src/core/quantity.ts";
import { DNS_LABEL, settings } from "./support/settings.ts";

/**
 * What the scheduler reserves for a pod (Kubernetes: the larger of the sum of its containers'
 * requests and the largest init container's request, per resource), in milli-units.
 */
function effectivePodRequests(
  init: readonly ContainerManifest[],
  containers: readonly ContainerManifest[],
): { cpu: number; memory: number } {
  const milli = (q: string) => Number(parseQuantity(q)?.milli ?? Number.NaN);
  const total = (resource: "cpu" | "memory") =>
    Math.max(
      containers.reduce((sum, c) => sum + milli(c.resources.requests[resource]), 0),
      ...init.map((c) => milli(c.resources.requests[resource])),
    );
  return { cpu: total("cpu"), memory: total("memory") };
}

const APP = "registry.example.com/team/app-";

function images(count: number, from = 0): string[] {
  return Array.from({ length: count }, (_, i) => `${APP}${from + i}:1.0`);
}

/**
 * Two images whose sha256 share the first 32 bits (8 hex digits, 156d6880): the same container
 * name suffix, and no shard bit can tell them apart. Found by search; sorted by code unit.
 */
const SHARES_32_BITS = [`${APP}3234:1.0`, `${APP}48707:1.0`] as const;

function assignment(shards: Shard[]): Map<string, string> {
  return new Map(shards.flatMap((s) => s.images.map((image) => [image, s.id] as const)));
}

/** Old shards (by id) whose images did not all keep that shard id, the new image left aside. */
function disturbedShards(before: Shard[], after: Shard[]): string[] {
  const now = assignment(after);
  return before.filter((s) => s.images.some((image) => now.get(image) !== s.id)).map((s) => s.id);
}

describe("shardImages", () => {
  it.each([
    { count: 0, max: 3, shards: 0 },
    { count: 5, max: 0, shards: 1 },
    { count: 3, max: 3, shards: 1 },
  ])("$count images, max $max → $shards shard(s), unsuffixed", ({ count, max, shards }) => {
    const result = shardImages(images(count), max);
    expect(result).toHaveLength(shards);
    for (const shard of result) expect(shard.id).toBe("");
  });

  it.each([1, 2, 3, 5, 8])("max %i: every image once, no shard over max, ids are bit strings", (max) => {
    const all = images(40);
    const shards = shardImages(all, max);
    expect(shards.flatMap((s) => s.images).sort()).toEqual([...all].sort());
    for (const shard of shards) {
      expect(shard.images.length).toBeGreaterThan(0);
      expect(shard.images.length).toBeLessThanOrEqual(max);
      expect(shard.id).toMatch(/^[01]{1,32}$/);
    }
    expect(shards.map((s) => s.id)).toEqual([...shards.map((s) => s.id)].sort());
  });

  it("does not depend on input order or duplicates", () => {
    const all = images(30);
    expect(shardImages([...all].reverse().concat(all.slice(0, 5)), 4)).toEqual(shardImages(all, 4));
  });

  it.each([1, 2, 3, 5, 8])("max %i: adding one image disturbs at most one existing shard", (max) => {
    let current = images(6);
    for (let step = 0; step < 40; step++) {
      const next = [...current, images(1, 1000 + step)[0] ?? ""];
      const before = shardImages(current, max);
      const after = shardImages(next, max);
      expect(disturbedShards(before, after).length).toBeLessThanOrEqual(1);
      current = next;
    }
  });

  it.each([1, 2, 4])("max %i: removing one image only merges shards, into one", (max) => {
    const all = images(40);
    for (let i = 0; i < all.length; i++) {
      const removed = all[i];
      const before = shardImages(all, max).map((s) => ({
        ...s,
        images: s.images.filter((x) => x !== removed),
      }));
      const after = shardImages(
        all.filter((x) => x !== removed),
        max,
      );
      const now = assignment(after);
      const disturbed = disturbedShards(before, after);
      const targets = new Set(
        before.filter((s) => disturbed.includes(s.id)).flatMap((s) => s.images.map((x) => now.get(x))),
      );
      expect(targets.size).toBeLessThanOrEqual(1);
    }
  });

  it("the check above can fail: sort-and-fill chunking disturbs many shards", () => {
    const chunk = (list: string[]): Shard[] => {
      const sorted = [...list].sort();
      const out: Shard[] = [];
      for (let i = 0; i < sorted.length; i += 2)
        out.push({ id: String(i / 2), images: sorted.slice(i, i + 2) });
      return out;
    };
    expect(
      disturbedShards(chunk(images(20)), chunk(["registry.example.com/team/aaa:1", ...images(20)])),
    ).not.toHaveLength(0);
  });

  // Literal shard ids: they end DaemonSet names (prepull-<key>-<id>) stored in clusters, so the same
  // image set and maximum must give the same shards in every release. The rows sit on the
  // boundaries: a shard of exactly max images is not split, one of max + 1 is.
  it.each([
    {
      name: "max images: one unsuffixed shard",
      images: images(4),
      max: 4,
      shards: [{ id: "", images: images(4) }],
    },
    {
      name: "max + 1 images: split once by the first bit",
      images: images(5),
      max: 4,
      shards: [
        { id: "0", images: images(4) },
        { id: "1", images: [`${APP}4:1.0`] },
      ],
    },
    {
      name: "a half over max splits again, one at max does not",
      images: images(10),
      max: 4,
      shards: [
        { id: "00", images: [`${APP}0:1.0`, `${APP}3:1.0`, `${APP}8:1.0`] },
        { id: "01", images: [`${APP}1:1.0`, `${APP}2:1.0`, `${APP}9:1.0`] },
        { id: "1", images: [`${APP}4:1.0`, `${APP}5:1.0`, `${APP}6:1.0`, `${APP}7:1.0`] },
      ],
    },
    {
      name: "a subtree of exactly max after three splits stays whole",
      images: [SHARES_32_BITS[1], `${APP}0:1.0`, SHARES_32_BITS[0]],
      max: 2,
      shards: [
        { id: "000", images: [...SHARES_32_BITS] },
        { id: "001", images: [`${APP}0:1.0`] },
      ],
    },
    {
      name: "two images sharing 32 hash bits stay together at MAX_SHARD_DEPTH",
      images: [SHARES_32_BITS[1], `${APP}0:1.0`, SHARES_32_BITS[0]],
      max: 1,
      shards: [
        { id: "00010101011011010110100010000000", images: [...SHARES_32_BITS] },
        { id: "001", images: [`${APP}0:1.0`] },
      ],
    },
  ])("pins the shards: $name", ({ images: input, max, shards }) => {
    expect(shardImages(input, max)).toEqual(shards);
  });

  it("stops splitting at MAX_SHARD_DEPTH", () => {
    expect(MAX_SHARD_DEPTH).toBe(32);
    for (const shard of shardImages(images(200), 1))
      expect(shard.id.length).toBeLessThanOrEqual(MAX_SHARD_DEPTH);
  });
});

describe("names", () => {
  it.each([
    { key: "0123456789", shard: "", name: "prepull-0123456789" },
    { key: "0123456789", shard: "01", name: "prepull-0123456789-01" },
    { key: "0123456789abcdef", shard: "1".repeat(32), name: `prepull-0123456789abcdef-${"1".repeat(32)}` },
  ])("daemonSetName($key, $shard)", ({ key, shard, name }) => {
    expect(daemonSetName(key, shard)).toBe(name);
    expect(name.length).toBeLessThanOrEqual(63);
    expect(name).toMatch(DNS_LABEL);
  });

  it("container names are img-<8 hex>, unique, DNS labels, sorted", () => {
    const containers = imageContainers(images(100));
    const names = containers.map((c) => c.container);
    expect(new Set(names).size).toBe(100);
    for (const name of names) {
      expect(name).toMatch(/^img-[0-9a-f]{8}$/);
      expect(name).toMatch(DNS_LABEL);
    }
    expect(names).toEqual([...names].sort());
  });

  // Literal container names: status on workloads and the reconciler find an image's pull result by
  // its container name in DaemonSets stored in clusters, so it must never change between releases.
  it.each([
    { images: ["docker.io/library/nginx:1.25"], containers: ["img-b07c1fa2"] },
    {
      images: [
        "nvcr.io/nvidia/pytorch:24.01-py3",
        "docker.io/library/redis:7",
        "docker.io/library/nginx:1.25",
      ],
      containers: ["img-640976d8", "img-a0ed741a", "img-b07c1fa2"],
    },
    {
      // Colliding on the 8 hex digits: both take the longest suffix a name holds (59 hex), the
      // others keep theirs.
      images: [...SHARES_32_BITS, "docker.io/library/nginx:1.25"],
      containers: [
        "img-156d68802b51e39ad91a0985e543f28db499d20b661149fcbdb38e18022",
        "img-156d6880db9d36840a350f4413de9c8accf5588b368e0d26eb4535fd926",
        "img-b07c1fa2",
      ],
    },
  ])("pins container names: $containers", ({ images: input, containers }) => {
    const named = imageContainers(input);
    expect(named.map((c) => c.container)).toEqual(containers);
    expect(new Set(named.map((c) => c.image))).toEqual(new Set(input));
    for (const name of containers) expect(name.length).toBeLessThanOrEqual(63);
  });

  it("colliding images get distinct names that carry their own hash", () => {
    expect(imageContainers([...SHARES_32_BITS])).toEqual([
      {
        image: SHARES_32_BITS[1],
        container: "img-156d68802b51e39ad91a0985e543f28db499d20b661149fcbdb38e18022",
      },
      {
        image: SHARES_32_BITS[0],
        container: "img-156d6880db9d36840a350f4413de9c8accf5588b368e0d26eb4535fd926",
      },
    ]);
  });

  it("container names are a function of the image alone", () => {
    const alone = imageContainers(["nginx"]);
    const among = imageContainers(["redis", "nginx", "busybox"]);
    expect(among.find((c) => c.image === "nginx")).toEqual(alone[0]);
  });
});

describe("daemonSetManifest", () => {
  const gpu = placementOf({
    nodeSelector: { pool: "gpu" },
    tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [
            { matchExpressions: [{ key: "kubernetes.io/arch", operator: "In", values: ["amd64"] }] },
          ],
        },
      },
    },
  });
  // The literal placementKey(gpu): stored as the prepull.dev/placement label, it must never change.
  const key = "e6769673d2a42edb";
  const manifest = daemonSetManifest({
    name: "prepull-e6769673d2",
    placementKey: key,
    placement: gpu,
    images: ["docker.io/library/nginx:1.25", "nvcr.io/nvidia/pytorch:24.01-py3"],
    pullSecrets: ["prepull-pull-a-b-0123456789"],
    settings: { ...settings, priorityClassName: "prepull-low" },
  });
  const pod = manifest.spec.template.spec;
  const allContainers: ContainerManifest[] = [...pod.initContainers, ...pod.containers];

  it("is an apps/v1 DaemonSet in the release namespace with owned labels", () => {
    expect(manifest.apiVersion).toBe("apps/v1");
    expect(manifest.kind).toBe("DaemonSet");
    expect(manifest.metadata.namespace).toBe("prepull-system");
    expect(manifest.metadata.labels).toMatchObject({
      "app.kubernetes.io/name": "prepull",
      "app.kubernetes.io/managed-by": "prepull",
      "app.kubernetes.io/component": "image-cache",
      "app.kubernetes.io/instance": "prepull",
      "prepull.dev/placement": key,
    });
    expect(manifest.metadata.annotations).toEqual({ "prepull.dev/image-count": "2" });
  });

  it("selects its own pods by its name only", () => {
    expect(manifest.spec.selector.matchLabels).toEqual({ "prepull.dev/daemonset": manifest.metadata.name });
    expect(manifest.spec.template.metadata.labels).toMatchObject(manifest.spec.selector.matchLabels);
  });

  it("rolls wide and keeps little history", () => {
    expect(manifest.spec.updateStrategy).toEqual({
      type: "RollingUpdate",
      rollingUpdate: { maxUnavailable: "100%" },
    });
    expect(manifest.spec.revisionHistoryLimit).toBeLessThanOrEqual(3);
  });

  it.each([
    { value: "100%", expected: "100%" },
    { value: "25%", expected: "25%" },
    { value: "5", expected: 5 },
  ])("maxUnavailable $value → $expected", ({ value, expected }) => {
    const ds = daemonSetManifest({
      name: "prepull-x",
      placementKey: "x",
      placement: placementOf({}),
      images: ["a"],
      pullSecrets: [],
      settings: { ...settings, maxUnavailable: value },
    });
    expect(ds.spec.updateStrategy.rollingUpdate.maxUnavailable).toBe(expected);
  });

  it("carries the placement under its pinned key", () => {
    expect(placementKey(gpu)).toBe(key);
  });

  it.each([
    {
      name: "Equal with a value",
      toleration: { key: "dedicated", operator: "Equal", value: "ml", effect: "NoSchedule" },
      manifest: { key: "dedicated", operator: "Equal", value: "ml", effect: "NoSchedule" },
    },
    {
      name: "operator left out (Equal) with a value",
      toleration: { key: "team", value: "web", effect: "NoExecute" },
      manifest: { key: "team", operator: "Equal", value: "web", effect: "NoExecute" },
    },
    {
      name: "Exists without key or effect (tolerates every taint)",
      toleration: { operator: "Exists" },
      manifest: { operator: "Exists" },
    },
  ])("writes a toleration whole: $name", ({ toleration, manifest: expected }) => {
    const ds = daemonSetManifest({
      name: "prepull-x",
      placementKey: "x",
      placement: placementOf({ tolerations: [toleration] }),
      images: ["a"],
      pullSecrets: [],
      settings,
    });
    expect(ds.spec.template.spec.tolerations).toEqual([expected]);
  });

  it("carries the placement", () => {
    expect(pod.nodeSelector).toEqual({ "kubernetes.io/os": "linux", pool: "gpu" });
    expect(pod.tolerations).toEqual([{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }]);
    expect(
      pod.affinity?.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms,
    ).toEqual([{ matchExpressions: [{ key: "kubernetes.io/arch", operator: "In", values: ["amd64"] }] }]);
  });

  it.each([
    { spec: {}, os: "linux" },
    { spec: { nodeSelector: { "kubernetes.io/os": "windows" } }, os: "windows" },
  ])("keeps an explicit OS, else pins Linux ($os)", ({ spec, os }) => {
    const ds = daemonSetManifest({
      name: "prepull-x",
      placementKey: "x",
      placement: placementOf(spec),
      images: ["a"],
      pullSecrets: [],
      settings,
    });
    expect(ds.spec.template.spec.nodeSelector["kubernetes.io/os"]).toBe(os);
    expect(ds.spec.template.spec.affinity).toBeUndefined();
    expect(ds.spec.template.spec.tolerations).toBeUndefined();
  });

  it("installs the sleeper, then runs it from every image", () => {
    expect(pod.initContainers).toHaveLength(1);
    expect(pod.initContainers[0]).toMatchObject({
      name: "install-sleeper",
      image: settings.sleeperImage,
      command: ["/usr/local/bin/prepull-sleep", "install", "/prepull/bin/sleep"],
    });
    // Exactly: a readOnly: false would be dropped by the apiserver, and the stored object would
    // never equal the manifest.
    expect(pod.initContainers[0]?.volumeMounts).toEqual([{ name: "prepull-bin", mountPath: "/prepull/bin" }]);
    expect(pod.containers.map((c) => c.image).sort()).toEqual([
      "docker.io/library/nginx:1.25",
      "nvcr.io/nvidia/pytorch:24.01-py3",
    ]);
    for (const c of pod.containers) {
      expect(c.command).toEqual(["/prepull/bin/sleep"]);
      expect(c.volumeMounts).toEqual([{ name: "prepull-bin", mountPath: "/prepull/bin", readOnly: true }]);
    }
    expect(pod.volumes).toEqual([{ name: "prepull-bin", emptyDir: {} }]);
  });

  it.each(allContainers.map((c) => [c.name, c] as const))("%s passes Pod Security restricted", (_, c) => {
    expect(c.imagePullPolicy).toBe("IfNotPresent");
    expect(c.name).toMatch(DNS_LABEL);
    expect(c.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(c.resources.limits).toEqual({ cpu: "100m", memory: "32Mi" });
  });

  it("puts the pod's requests on the init container alone; image containers request 0", () => {
    expect(pod.initContainers[0]?.resources.requests).toEqual({ cpu: "1m", memory: "16Mi" });
    for (const c of pod.containers) expect(c.resources.requests).toEqual({ cpu: "0", memory: "0" });
  });

  it.each([1, 10, 200, 2_000])("a pod of %i images reserves 1m CPU and 16Mi on its node", (count) => {
    const spec = daemonSetManifest({
      name: "prepull-x",
      placementKey: "x",
      placement: placementOf({}),
      images: images(count),
      pullSecrets: [],
      settings,
    }).spec.template.spec;
    expect(spec.containers).toHaveLength(count);
    expect(effectivePodRequests(spec.initContainers, spec.containers)).toEqual({
      cpu: 1, // millicores
      memory: 16 * 1024 * 1024 * 1000, // millibytes
    });
  });

  it("caps the pod's requests at the limits when settings built without config.ts exceed them", () => {
    const spec = daemonSetManifest({
      name: "prepull-x",
      placementKey: "x",
      placement: placementOf({}),
      images: ["a"],
      pullSecrets: [],
      settings: { ...settings, resources: { cpu: "1m", memory: "8Mi" }, podRequests: undefined },
    }).spec.template.spec;
    expect(spec.initContainers[0]?.resources).toEqual({
      requests: { cpu: "1m", memory: "8Mi" },
      limits: { cpu: "1m", memory: "8Mi" },
    });
  });

  it("writes quantities the way the apiserver stores them", () => {
    const spec = daemonSetManifest({
      name: "prepull-x",
      placementKey: "x",
      placement: placementOf({}),
      images: ["a"],
      pullSecrets: [],
      settings: {
        ...settings,
        resources: { cpu: "0.1", memory: "1024Mi" },
        podRequests: { cpu: "0.001", memory: "0.5Gi" },
      },
    }).spec.template.spec;
    expect(spec.initContainers[0]?.resources).toEqual({
      requests: { cpu: "1m", memory: "512Mi" },
      limits: { cpu: "100m", memory: "1Gi" },
    });
  });

  it("has a locked-down pod", () => {
    expect(pod).toMatchObject({
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      priorityClassName: "prepull-low",
      securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
    });
    expect(pod.terminationGracePeriodSeconds).toBeLessThanOrEqual(5);
    const json = JSON.stringify(manifest);
    for (const forbidden of ["hostPath", "hostNetwork", "hostPID", "hostIPC", "privileged"]) {
      expect(json).not.toContain(forbidden);
    }
  });

  it("references pull secrets only when given", () => {
    expect(pod.imagePullSecrets).toEqual([{ name: "prepull-pull-a-b-0123456789" }]);
    const none = daemonSetManifest({
      name: "prepull-x",
      placementKey: "x",
      placement: placementOf({}),
      images: ["a"],
      pullSecrets: [],
      settings,
    });
    expect(none.spec.template.spec.imagePullSecrets).toBeUndefined();
    expect(none.spec.template.spec.priorityClassName).toBeUndefined();
  });

  it("adds the sleeper's own pull secrets", () => {
    const ds = daemonSetManifest({
      name: "prepull-x",
      placementKey: "x",
      placement: placementOf({}),
      images: ["a"],
      pullSecrets: ["b"],
      settings: { ...settings, sleeperPullSecrets: ["registry-creds"] },
    });
    expect(ds.spec.template.spec.imagePullSecrets).toEqual([{ name: "b" }, { name: "registry-creds" }]);
  });
});
