import { describe, expect, it } from "vitest";
import type { DaemonSetManifest, PrepullSettings } from "../../src/core/daemonset.ts";
import type { DesiredState, TrackedWorkload } from "../../src/core/desired-state.ts";
import { desiredState, mirroredSecretName, workloadId } from "../../src/core/desired-state.ts";
import { placementOf } from "../../src/core/placement.ts";
import type { JsonObject, WorkloadKind } from "../../src/core/workload.ts";
import { DNS_LABEL, settings } from "./support/settings.ts";

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const NGINX = "docker.io/library/nginx:1.25";
const REDIS = "docker.io/library/redis:7";
const TORCH = "nvcr.io/nvidia/pytorch:24.01-py3";

const GPU: JsonObject = {
  nodeSelector: { pool: "gpu" },
  tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
};
const ARM: JsonObject = { nodeSelector: { "kubernetes.io/arch": "arm64" } };

function workload(
  name: string,
  images: string[],
  spec: JsonObject = {},
  options: { namespace?: string; kind?: WorkloadKind; pullSecrets?: string[] } = {},
): TrackedWorkload {
  return {
    key: { kind: options.kind ?? "Deployment", namespace: options.namespace ?? "default", name },
    images,
    placement: placementOf(spec),
    pullSecrets: options.pullSecrets ?? [],
  };
}

function run(workloads: TrackedWorkload[], overrides: Partial<PrepullSettings> = {}): DesiredState {
  return desiredState({ workloads, settings: { ...settings, ...overrides } });
}

function imagesOf(ds: DaemonSetManifest): string[] {
  return ds.spec.template.spec.containers.map((c) => c.image).sort();
}

function allImages(state: DesiredState): string[] {
  return state.daemonSets.flatMap(imagesOf).sort();
}

describe("grouping by placement", () => {
  const cases: { name: string; workloads: TrackedWorkload[]; groups: string[][] }[] = [
    { name: "nothing tracked", workloads: [], groups: [] },
    {
      name: "no constraints share one",
      workloads: [workload("a", [NGINX]), workload("b", [REDIS], {}, { namespace: "other" })],
      groups: [[NGINX, REDIS]],
    },
    {
      name: "same selector in a different key order → one",
      workloads: [
        workload("a", [NGINX], { nodeSelector: { pool: "web", zone: "a" } }),
        workload("b", [REDIS], { nodeSelector: { zone: "a", pool: "web" } }),
      ],
      groups: [[NGINX, REDIS]],
    },
    {
      name: "GPU selector + toleration vs none → two",
      workloads: [workload("a", [NGINX]), workload("train", [TORCH], GPU)],
      groups: [[NGINX], [TORCH]],
    },
    {
      name: "arm64 gets its own",
      workloads: [workload("a", [NGINX]), workload("b", [NGINX], ARM), workload("c", [TORCH], GPU)],
      groups: [[NGINX], [NGINX], [TORCH]],
    },
    {
      name: "a workload without images makes no DaemonSet",
      workloads: [workload("a", []), workload("b", [], GPU)],
      groups: [],
    },
    {
      name: "an image used twice in one group appears once",
      workloads: [workload("a", [NGINX, NGINX]), workload("b", [NGINX])],
      groups: [[NGINX]],
    },
  ];
  it.each(cases)("$name", ({ workloads, groups }) => {
    const state = run(workloads);
    expect(state.daemonSets.map(imagesOf).sort()).toEqual(groups.sort());
    const placements = state.daemonSets.map((ds) => ds.metadata.labels["prepull.dev/placement"]);
    expect(new Set(placements).size).toBe(placements.length);
  });

  it("the GPU DaemonSet carries the GPU constraints, the default one none", () => {
    const state = run([workload("a", [NGINX]), workload("train", [TORCH], GPU)]);
    const gpu = state.daemonSets.find((ds) => imagesOf(ds).includes(TORCH));
    const plain = state.daemonSets.find((ds) => imagesOf(ds).includes(NGINX));
    expect(gpu?.spec.template.spec.nodeSelector).toEqual({ "kubernetes.io/os": "linux", pool: "gpu" });
    expect(gpu?.spec.template.spec.tolerations).toEqual([
      { key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" },
    ]);
    expect(plain?.spec.template.spec.nodeSelector).toEqual({ "kubernetes.io/os": "linux" });
    expect(plain?.spec.template.spec.tolerations).toBeUndefined();
  });
});

describe("determinism", () => {
  const workloads = [
    workload("a", [NGINX, REDIS], {}, { pullSecrets: ["regcred"] }),
    workload("b", [REDIS], {}, { namespace: "team-b", kind: "StatefulSet", pullSecrets: ["other"] }),
    workload("train", [TORCH, NGINX], GPU, { namespace: "ml", kind: "Job" }),
    workload("edge", [NGINX], ARM, { kind: "CronJob" }),
    ...Array.from({ length: 12 }, (_, i) => workload(`many-${i}`, [`registry.example.com/app-${i}:1`])),
  ];
  const permutations = [
    workloads,
    [...workloads].reverse(),
    [...workloads.slice(5), ...workloads.slice(0, 5)],
    workloads.map((w) => ({
      ...w,
      images: [...w.images].reverse(),
      pullSecrets: [...w.pullSecrets].reverse(),
    })),
  ];
  it.each([
    { maxImagesPerDaemonSet: 0, mirrorPullSecrets: false },
    { maxImagesPerDaemonSet: 3, mirrorPullSecrets: true },
  ])("input order never changes the JSON (%o)", (overrides) => {
    const expected = JSON.stringify(run(workloads, overrides));
    for (const input of permutations) expect(JSON.stringify(run(input, overrides))).toBe(expected);
  });

  it("names are prepull-<10 hex> and stable across calls", () => {
    const first = run(workloads).daemonSets.map((ds) => ds.metadata.name);
    expect(run(workloads).daemonSets.map((ds) => ds.metadata.name)).toEqual(first);
    for (const name of first) expect(name).toMatch(/^prepull-[0-9a-f]{10}$/);
    expect(first).toEqual([...first].sort());
  });

  it("a group's name does not depend on the other groups or its images", () => {
    const alone = run([workload("train", [TORCH], GPU)]).daemonSets[0]?.metadata.name;
    const among = run(workloads).daemonSets.find((ds) => imagesOf(ds).includes(TORCH))?.metadata.name;
    expect(alone).toBeDefined();
    expect(among).toBe(alone);
  });

  it("every name is a valid DNS-1123 name of the right length", () => {
    const state = run(
      [
        ...workloads,
        workload(
          "x",
          [REDIS],
          {},
          { namespace: "n".repeat(63), pullSecrets: [`${"s".repeat(200)}.example.com`] },
        ),
      ],
      { maxImagesPerDaemonSet: 1, mirrorPullSecrets: true },
    );
    expect(state.daemonSets.length).toBeGreaterThan(4);
    for (const ds of state.daemonSets) {
      expect(ds.metadata.name).toMatch(DNS_LABEL);
      expect(ds.metadata.name.length).toBeLessThanOrEqual(63);
      for (const c of [...ds.spec.template.spec.initContainers, ...ds.spec.template.spec.containers]) {
        expect(c.name).toMatch(DNS_LABEL);
        expect(c.name.length).toBeLessThanOrEqual(63);
      }
      for (const value of Object.values(ds.metadata.labels)) expect(value.length).toBeLessThanOrEqual(63);
    }
    expect(state.secrets.length).toBeGreaterThan(0);
    for (const secret of state.secrets) {
      expect(secret.name).toMatch(DNS_SUBDOMAIN);
      expect(secret.name.length).toBeLessThanOrEqual(253);
    }
  });
});

describe("names stored in clusters", () => {
  // Every name below is a literal on purpose: DaemonSets, their containers and mirrored Secrets
  // live in clusters under these names, and a reconciler of the next release must find the same
  // names for the same workloads (else it deletes and recreates every DaemonSet, and every node
  // pulls again). These values must never change between releases.
  it("pins DaemonSet, shard, container and Secret names for a mixed state", () => {
    const state = run(
      [
        workload("a", [NGINX, REDIS], {}, { pullSecrets: ["regcred"] }),
        workload("b", [REDIS], {}, { namespace: "team-b", kind: "StatefulSet", pullSecrets: ["other"] }),
        workload("train", [TORCH, NGINX], GPU, { namespace: "ml", kind: "Job" }),
        workload("edge", [NGINX], ARM, { kind: "CronJob" }),
        ...Array.from({ length: 6 }, (_, i) => workload(`many-${i}`, [`registry.example.com/app-${i}:1`])),
      ],
      { maxImagesPerDaemonSet: 3, mirrorPullSecrets: true },
    );
    expect(
      state.daemonSets.map((ds) => ({
        name: ds.metadata.name,
        placement: ds.metadata.labels["prepull.dev/placement"],
        containers: ds.spec.template.spec.containers.map((c) => `${c.name} ${c.image}`),
        secrets: (ds.spec.template.spec.imagePullSecrets ?? []).map((secret) => secret.name),
      })),
    ).toEqual([
      {
        name: "prepull-0e4076a483",
        placement: "0e4076a483139c4d",
        containers: [`img-b07c1fa2 ${NGINX}`],
        secrets: [],
      },
      {
        // Placement and namespace: a DaemonSet of its own for team-b's mirrored secret.
        name: "prepull-1556aea0e3",
        placement: "3751c4edd9d67de5",
        containers: [`img-a0ed741a ${REDIS}`],
        secrets: ["prepull-pull-team-b-other-8cc03add05"],
      },
      {
        name: "prepull-1c904def4f",
        placement: "3751c4edd9d67de5",
        containers: [`img-a0ed741a ${REDIS}`, `img-b07c1fa2 ${NGINX}`],
        secrets: ["prepull-pull-default-regcred-cacadd408f"],
      },
      {
        name: "prepull-3751c4edd9-0",
        placement: "3751c4edd9d67de5",
        containers: [
          "img-110c6f9b registry.example.com/app-5:1",
          "img-4571ccab registry.example.com/app-4:1",
        ],
        secrets: [],
      },
      {
        name: "prepull-3751c4edd9-10",
        placement: "3751c4edd9d67de5",
        containers: [
          "img-826f34da registry.example.com/app-3:1",
          "img-b00488fd registry.example.com/app-0:1",
        ],
        secrets: [],
      },
      {
        name: "prepull-3751c4edd9-11",
        placement: "3751c4edd9d67de5",
        containers: [
          "img-d268a45d registry.example.com/app-1:1",
          "img-e69deea0 registry.example.com/app-2:1",
        ],
        secrets: [],
      },
      {
        name: "prepull-5417a0ce4a",
        placement: "5417a0ce4af833e1",
        containers: [`img-640976d8 ${TORCH}`, `img-b07c1fa2 ${NGINX}`],
        secrets: [],
      },
    ]);
    expect(state.secrets).toEqual([
      {
        name: "prepull-pull-default-regcred-cacadd408f",
        source: { namespace: "default", name: "regcred" },
        daemonSets: ["prepull-1c904def4f"],
      },
      {
        name: "prepull-pull-team-b-other-8cc03add05",
        source: { namespace: "team-b", name: "other" },
        daemonSets: ["prepull-1556aea0e3"],
      },
    ]);
  });

  it("placements whose keys share 10 hex digits both carry the full 16 (the others keep 10)", () => {
    // placementKey: pool=p695428 → 42f4abcd02e385bf, pool=p1195346 → 42f4abcd0245de0b.
    const state = run([
      workload("a", [NGINX], { nodeSelector: { pool: "p695428" } }),
      workload("b", [REDIS], { nodeSelector: { pool: "p1195346" } }),
      workload("c", [TORCH]),
    ]);
    expect(
      state.daemonSets.map((ds) => [ds.metadata.name, ds.metadata.labels["prepull.dev/placement"]]),
    ).toEqual([
      ["prepull-3751c4edd9", "3751c4edd9d67de5"],
      ["prepull-42f4abcd0245de0b", "42f4abcd0245de0b"],
      ["prepull-42f4abcd02e385bf", "42f4abcd02e385bf"],
    ]);
  });

  it.each([
    { source: { namespace: "shop", name: "regcred" }, name: "prepull-pull-shop-regcred-f687c72970" },
    // The same two words the other way round: the hash is of namespace/name, in that order.
    { source: { namespace: "regcred", name: "shop" }, name: "prepull-pull-regcred-shop-c59aaac62b" },
    { source: { namespace: "ml", name: "ngc" }, name: "prepull-pull-ml-ngc-accfad5b2d" },
  ])("pins the mirrored Secret name of $source.namespace/$source.name", ({ source, name }) => {
    expect(mirroredSecretName(source)).toBe(name);
  });
});

describe("sharding", () => {
  const many = (count: number) =>
    Array.from({ length: count }, (_, i) => workload(`w${i}`, [`registry.example.com/app-${i}:1`]));

  it("no DaemonSet holds more than the maximum, and names carry the shard", () => {
    const state = run(many(20), { maxImagesPerDaemonSet: 4 });
    expect(allImages(state)).toHaveLength(20);
    for (const ds of state.daemonSets) {
      expect(imagesOf(ds).length).toBeLessThanOrEqual(4);
      expect(ds.metadata.name).toMatch(/^prepull-[0-9a-f]{10}-[01]+$/);
    }
  });

  it.each([1, 2, 4])("max %i: adding one workload's image keeps the others where they were", (max) => {
    for (let n = 5; n < 25; n++) {
      const before = run(many(n), { maxImagesPerDaemonSet: max });
      const after = run(many(n + 1), { maxImagesPerDaemonSet: max });
      const where = (state: DesiredState) =>
        new Map(state.imagesByWorkload.flatMap((w) => w.images.map((l) => [l.image, l.daemonSet] as const)));
      const now = where(after);
      const moved = new Set(
        [...where(before)].filter(([image, ds]) => now.get(image) !== ds).map(([, ds]) => ds),
      );
      expect(moved.size).toBeLessThanOrEqual(1);
    }
  });
});

describe("reference counting", () => {
  const web = workload("web", [NGINX, REDIS]);
  const api = workload("api", [REDIS]);
  const train = workload("train", [TORCH], GPU);

  it.each([
    { name: "all present", workloads: [web, api, train], images: [NGINX, REDIS, TORCH] },
    {
      name: "web gone: its own image goes, shared redis stays for api",
      workloads: [api, train],
      images: [REDIS, TORCH],
    },
    {
      name: "api gone: redis stays while web uses it",
      workloads: [web, train],
      images: [NGINX, REDIS, TORCH],
    },
    {
      name: "both redis users gone → redis gone",
      workloads: [train, workload("static", [NGINX])],
      images: [NGINX, TORCH],
    },
    {
      name: "workload drops an image",
      workloads: [{ ...web, images: [NGINX] }, train],
      images: [NGINX, TORCH],
    },
    { name: "nothing left", workloads: [], images: [] },
  ])("$name", ({ workloads, images }) => {
    expect(allImages(run(workloads))).toEqual([...images].sort());
  });

  it("a DaemonSet whose group empties is gone", () => {
    expect(run([web, train]).daemonSets).toHaveLength(2);
    const state = run([web]);
    expect(state.daemonSets).toHaveLength(1);
    expect(imagesOf(state.daemonSets[0] as DaemonSetManifest)).toEqual([NGINX, REDIS]);
  });
});

describe("mirrored pull secrets", () => {
  const workloads = [
    workload("web", [NGINX], {}, { namespace: "shop", pullSecrets: ["regcred"] }),
    workload("api", [REDIS], {}, { namespace: "shop", pullSecrets: ["regcred", "extra"] }),
    workload("train", [TORCH], GPU, { namespace: "ml", pullSecrets: ["ngc"] }),
    workload("plain", [NGINX], ARM),
  ];

  it("off: no secrets, no imagePullSecrets", () => {
    const state = run(workloads);
    expect(state.secrets).toEqual([]);
    for (const ds of state.daemonSets) expect(ds.spec.template.spec.imagePullSecrets).toBeUndefined();
  });

  it("on: one mirror per (namespace, name), referenced by exactly the DaemonSets that need it", () => {
    const state = run(workloads, { mirrorPullSecrets: true });
    const byImage = (image: string) =>
      state.daemonSets.find(
        (ds) => imagesOf(ds).includes(image) && !ds.spec.template.spec.nodeSelector["kubernetes.io/arch"],
      );
    const plainDs = byImage(NGINX)?.metadata.name ?? "";
    const gpuDs = byImage(TORCH)?.metadata.name ?? "";
    // Literal names: mirrored Secrets are stored in the release namespace, so their names must
    // never change between releases.
    expect(state.secrets).toEqual(
      [
        {
          name: "prepull-pull-shop-regcred-f687c72970",
          source: { namespace: "shop", name: "regcred" },
          daemonSets: [plainDs],
        },
        {
          name: "prepull-pull-shop-extra-74be2340b8",
          source: { namespace: "shop", name: "extra" },
          daemonSets: [plainDs],
        },
        {
          name: "prepull-pull-ml-ngc-accfad5b2d",
          source: { namespace: "ml", name: "ngc" },
          daemonSets: [gpuDs],
        },
      ].sort((a, b) => (a.name < b.name ? -1 : 1)),
    );
    for (const ds of state.daemonSets) {
      const referenced = (ds.spec.template.spec.imagePullSecrets ?? []).map((s) => s.name);
      const expected = state.secrets
        .filter((s) => s.daemonSets.includes(ds.metadata.name))
        .map((s) => s.name);
      expect(referenced).toEqual([...expected].sort());
    }
    const arm = state.daemonSets.find(
      (ds) => ds.spec.template.spec.nodeSelector["kubernetes.io/arch"] === "arm64",
    );
    expect(arm?.spec.template.spec.imagePullSecrets).toBeUndefined();
  });

  it("two namespaces' secrets never share a DaemonSet; workloads without secrets keep sharing", () => {
    const tenants = [
      workload("web", [NGINX], {}, { namespace: "shop", pullSecrets: ["regcred"] }),
      workload("site", [NGINX], {}, { namespace: "blog", pullSecrets: ["regcred"] }),
      workload("a", [NGINX], {}, { namespace: "plain" }),
      workload("b", [REDIS], {}, { namespace: "other" }),
    ];
    const state = run(tenants, { mirrorPullSecrets: true });
    expect(
      state.daemonSets.map((ds) => ({
        name: ds.metadata.name,
        placement: ds.metadata.labels["prepull.dev/placement"],
        images: imagesOf(ds),
        secrets: (ds.spec.template.spec.imagePullSecrets ?? []).map((s) => s.name),
      })),
    ).toEqual([
      { name: "prepull-3751c4edd9", placement: "3751c4edd9d67de5", images: [NGINX, REDIS], secrets: [] },
      {
        name: "prepull-7b623d453d",
        placement: "3751c4edd9d67de5",
        images: [NGINX],
        secrets: ["prepull-pull-blog-regcred-5cc246df62"],
      },
      {
        name: "prepull-8386d193cf",
        placement: "3751c4edd9d67de5",
        images: [NGINX],
        secrets: ["prepull-pull-shop-regcred-f687c72970"],
      },
    ]);
    // Without mirroring nothing carries secrets, so one DaemonSet serves every namespace.
    expect(run(tenants).daemonSets.map((ds) => ds.metadata.name)).toEqual(["prepull-3751c4edd9"]);
  });

  it("a secret stops being mirrored when its last workload goes", () => {
    const state = run(workloads.slice(2), { mirrorPullSecrets: true });
    expect(state.secrets.map((s) => s.source)).toEqual([{ namespace: "ml", name: "ngc" }]);
  });

  it.each([
    { source: { namespace: "a-b", name: "c" }, other: { namespace: "a", name: "b-c" } },
    {
      source: { namespace: "ns", name: `${"x".repeat(250)}` },
      other: { namespace: "ns", name: `${"x".repeat(251)}` },
    },
  ])("names never collide: $source.namespace/$source.name", ({ source, other }) => {
    const a = mirroredSecretName(source);
    const b = mirroredSecretName(other);
    expect(a).not.toBe(b);
    for (const name of [a, b]) {
      expect(name).toMatch(DNS_SUBDOMAIN);
      expect(name.length).toBeLessThanOrEqual(253);
      expect(name.startsWith("prepull-pull-")).toBe(true);
    }
  });
});

describe("imagesByWorkload", () => {
  it("tells, per workload, which DaemonSet and container carry each image", () => {
    const state = run([
      workload("web", [REDIS, NGINX]),
      workload("train", [NGINX], GPU, { kind: "Job" }),
      workload("idle", []),
    ]);
    expect(state.imagesByWorkload.map((w) => w.id)).toEqual([
      "Deployment/default/idle",
      "Deployment/default/web",
      "Job/default/train",
    ]);
    for (const entry of state.imagesByWorkload) {
      expect(entry.id).toBe(workloadId(entry.workload));
      for (const location of entry.images) {
        const ds = state.daemonSets.find((d) => d.metadata.name === location.daemonSet);
        const container = ds?.spec.template.spec.containers.find((c) => c.name === location.container);
        expect(container?.image).toBe(location.image);
      }
    }
    const web = state.imagesByWorkload.find((w) => w.workload.name === "web");
    const train = state.imagesByWorkload.find((w) => w.workload.name === "train");
    expect(web?.images.map((l) => l.image)).toEqual([NGINX, REDIS]);
    expect(train?.images.map((l) => l.image)).toEqual([NGINX]);
    expect(train?.images[0]?.daemonSet).not.toBe(web?.images[0]?.daemonSet);
    expect(state.imagesByWorkload.find((w) => w.workload.name === "idle")?.images).toEqual([]);
  });
});

describe("workloads that cannot run on Linux", () => {
  const WINDOWS_REASON = "pinned to kubernetes.io/os=windows nodes; prepull pre-pulls on Linux nodes only";
  const AFFINITY_REASON =
    "its required node affinity rules out kubernetes.io/os=linux; prepull pre-pulls on Linux nodes only";
  const osTerm = (operator: string, values: string[] = []) => ({
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: "kubernetes.io/os", operator, values }] }],
        },
      },
    },
  });

  it.each([
    ["nodeSelector windows", { nodeSelector: { "kubernetes.io/os": "windows" } }, WINDOWS_REASON],
    ["affinity In [windows]", osTerm("In", ["windows"]), AFFINITY_REASON],
    ["affinity NotIn [linux]", osTerm("NotIn", ["linux"]), AFFINITY_REASON],
    ["affinity DoesNotExist", osTerm("DoesNotExist"), AFFINITY_REASON],
  ])("%s: no DaemonSet, and the workload is told why", (_, spec, reason) => {
    const state = run([
      workload("win", ["mcr.microsoft.com/windows/servercore:ltsc2022"], spec),
      workload("web", [NGINX]),
    ]);
    expect(allImages(state)).toEqual([NGINX]);
    expect(state.imagesByWorkload.find((w) => w.workload.name === "win")).toEqual({
      workload: { kind: "Deployment", namespace: "default", name: "win" },
      id: "Deployment/default/win",
      images: [],
      unsupported: reason,
    });
  });

  it.each([
    ["nodeSelector linux", { nodeSelector: { "kubernetes.io/os": "linux" } }],
    ["affinity In [linux, windows]", osTerm("In", ["linux", "windows"])],
    ["affinity NotIn [windows]", osTerm("NotIn", ["windows"])],
  ])("%s: pre-pulled as usual", (_, spec) => {
    const state = run([workload("web", [NGINX], spec)]);
    expect(allImages(state)).toEqual([NGINX]);
    expect(state.imagesByWorkload[0]?.unsupported).toBeUndefined();
  });
});
