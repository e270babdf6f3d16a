import { describe, expect, it } from "vitest";
import type { WorkloadImages } from "../../src/core/desired-state.ts";
import {
  computeStatus,
  type DaemonSetView,
  initFailureOf,
  type PodView,
  podViewOf,
  presenceOf,
  summarize,
} from "../../src/core/status.ts";

const NGINX = "docker.io/library/nginx:1.25";
const REDIS = "docker.io/library/redis:7";

function mapping(
  name: string,
  images: { image: string; daemonSet: string; container: string }[],
): WorkloadImages {
  return {
    workload: { kind: "Deployment", namespace: "ns", name },
    id: `Deployment/ns/${name}`,
    images,
  };
}

const running = { state: "present" } as const;
const pulling = { state: "pending" } as const;
const failing = (reason: string) => ({ state: "failing", reason, message: `${reason} message` }) as const;

function pod(
  daemonSet: string,
  node: string,
  containers: Record<string, [string, PodView["presence"][string]]>,
): PodView {
  const images: Record<string, string> = {};
  const presence: PodView["presence"] = {};
  for (const [name, [image, state]] of Object.entries(containers)) {
    images[name] = image;
    presence[name] = state;
  }
  return { daemonSet, nodeName: node, images, presence };
}

describe("presenceOf", () => {
  const cases: { name: string; status: Record<string, unknown>; expected: string }[] = [
    { name: "running", status: { state: { running: { startedAt: "x" } } }, expected: "present" },
    { name: "ready flag", status: { ready: true, state: {} }, expected: "present" },
    { name: "terminated", status: { state: { terminated: { exitCode: 0 } } }, expected: "present" },
    {
      name: "crash loop (image was pulled)",
      status: { state: { waiting: { reason: "CrashLoopBackOff" } } },
      expected: "present",
    },
    {
      name: "ErrImagePull",
      status: { state: { waiting: { reason: "ErrImagePull", message: "m" } } },
      expected: "failing",
    },
    {
      name: "ImagePullBackOff",
      status: { state: { waiting: { reason: "ImagePullBackOff" } } },
      expected: "failing",
    },
    {
      name: "creating",
      status: { state: { waiting: { reason: "ContainerCreating" } } },
      expected: "pending",
    },
    { name: "no state", status: {}, expected: "pending" },
  ];
  for (const c of cases) {
    it(c.name, () => expect(presenceOf({ name: "c", ...c.status }).state).toBe(c.expected));
  }
});

describe("initFailureOf", () => {
  it.each([
    ["running", { state: { running: {} } }, undefined],
    ["done", { state: { terminated: { exitCode: 0, reason: "Completed" } } }, undefined],
    ["pulling", { state: { waiting: { reason: "PodInitializing" } } }, undefined],
    [
      "OOM-killed",
      { state: { terminated: { exitCode: 137, reason: "OOMKilled" } } },
      { reason: "OOMKilled", message: "" },
    ],
    [
      "wrong architecture",
      { state: { terminated: { exitCode: 128, reason: "StartError", message: "exec format error" } } },
      { reason: "StartError", message: "exec format error" },
    ],
    ["no reason", { state: { terminated: { exitCode: 2 } } }, { reason: "exit code 2", message: "" }],
    [
      "image not pullable",
      { state: { waiting: { reason: "ImagePullBackOff", message: "pull access denied" } } },
      { reason: "ImagePullBackOff", message: "pull access denied" },
    ],
    [
      "crash loop, naming the last termination",
      {
        state: { waiting: { reason: "CrashLoopBackOff", message: "back-off 10s" } },
        lastState: { terminated: { exitCode: 137, reason: "OOMKilled" } },
      },
      { reason: "CrashLoopBackOff (OOMKilled)", message: "back-off 10s" },
    ],
  ] as const)("%s", (_, status, expected) => {
    expect(initFailureOf({ name: "install-sleeper", ...status })).toEqual(expected);
  });
});

describe("podViewOf", () => {
  it("names the failing init container", () => {
    const view = podViewOf({
      metadata: { labels: { "prepull.dev/daemonset": "prepull-abc" } },
      spec: { nodeName: "n1", containers: [{ name: "img-1", image: NGINX }] },
      status: {
        initContainerStatuses: [
          { name: "install-sleeper", state: { terminated: { exitCode: 137, reason: "OOMKilled" } } },
        ],
        containerStatuses: [{ name: "img-1", state: { waiting: { reason: "PodInitializing" } } }],
      },
    });
    expect(view?.initFailure).toEqual({ reason: "install-sleeper OOMKilled", message: "" });
  });

  it("reads the DaemonSet label, node, images and statuses", () => {
    const view = podViewOf({
      metadata: { labels: { "prepull.dev/daemonset": "prepull-abc" } },
      spec: { nodeName: "n1", containers: [{ name: "img-1", image: NGINX }] },
      status: {
        containerStatuses: [
          { name: "img-1", state: { waiting: { reason: "ErrImagePull", message: "not found" } } },
        ],
      },
    });
    expect(view).toEqual({
      daemonSet: "prepull-abc",
      nodeName: "n1",
      images: { "img-1": NGINX },
      presence: { "img-1": { state: "failing", reason: "ErrImagePull", message: "not found" } },
    });
  });

  it("skips unscheduled and terminating pods", () => {
    const labels = { "prepull.dev/daemonset": "ds" };
    expect(podViewOf({ metadata: { labels }, spec: {} })).toBeUndefined();
    expect(
      podViewOf({ metadata: { labels, deletionTimestamp: "2024-01-01T00:00:00Z" }, spec: { nodeName: "n" } }),
    ).toBeUndefined();
  });
});

describe("computeStatus", () => {
  const daemonSets: DaemonSetView[] = [
    { name: "ds-all", desiredNumberScheduled: 3 },
    { name: "ds-gpu", desiredNumberScheduled: 2 },
  ];

  it("counts nodes with the image present out of the DaemonSet's desired pods", () => {
    const report = computeStatus(
      [mapping("web", [{ image: NGINX, daemonSet: "ds-all", container: "c1" }])],
      daemonSets,
      [
        pod("ds-all", "n1", { c1: [NGINX, running] }),
        pod("ds-all", "n2", { c1: [NGINX, running] }),
        pod("ds-all", "n3", { c1: [NGINX, pulling] }),
      ],
    );
    expect(report.workloads[0]?.summary).toBe("2/3 nodes ready");
    expect(report.images).toEqual([{ image: NGINX, ready: 2, eligible: 3, failing: 0 }]);
  });

  it("ignores pods of an older revision: another image runs in a container of another name", () => {
    const report = computeStatus(
      [mapping("web", [{ image: NGINX, daemonSet: "ds-all", container: "img-7f3a19c2" }])],
      daemonSets,
      [pod("ds-all", "n1", { "img-0b5e88d1": ["docker.io/library/nginx:1.24", running] })],
    );
    expect(report.workloads[0]?.readyNodes).toBe(0);
  });

  it("counts a container whose image a policy pinned to a digest or moved to a mirror", () => {
    const pinned = `${NGINX}@sha256:${"4c".repeat(32)}`;
    const report = computeStatus(
      [mapping("web", [{ image: NGINX, daemonSet: "ds-all", container: "img-7f3a19c2" }])],
      daemonSets,
      [
        pod("ds-all", "n1", { "img-7f3a19c2": [pinned, running] }),
        pod("ds-all", "n2", { "img-7f3a19c2": ["mirror.internal/library/nginx:1.25", running] }),
        pod("ds-all", "n3", { "img-7f3a19c2": [pinned, failing("ErrImagePull")] }),
      ],
    );
    expect(report.workloads[0]?.summary).toBe(`2/3 nodes ready; 1 failing on 1 node: ErrImagePull ${NGINX}`);
    expect(report.images).toEqual([{ image: NGINX, ready: 2, eligible: 3, failing: 1 }]);
  });

  it("reports nodes whose pre-pull pod cannot start because its init container fails", () => {
    const blocked = (node: string, reason: string): PodView => ({
      ...pod("ds-all", node, { c1: [NGINX, pulling], c2: [REDIS, pulling] }),
      initFailure: { reason, message: `${reason} message` },
    });
    const report = computeStatus(
      [
        mapping("app", [
          { image: NGINX, daemonSet: "ds-all", container: "c1" },
          { image: REDIS, daemonSet: "ds-all", container: "c2" },
        ]),
      ],
      daemonSets,
      [
        blocked("n1", "install-sleeper OOMKilled"),
        blocked("n2", "install-sleeper OOMKilled"),
        blocked("n3", "install-sleeper ImagePullBackOff"),
      ],
    );
    const status = report.workloads[0];
    expect(status?.sleeperFailing).toEqual([
      { reason: "install-sleeper OOMKilled", message: "install-sleeper OOMKilled message", nodes: 2 },
      {
        reason: "install-sleeper ImagePullBackOff",
        message: "install-sleeper ImagePullBackOff message",
        nodes: 1,
      },
    ]);
    expect(status?.summary).toBe(
      "2 images: 0/3 nodes ready; pre-pull pod cannot start on 3 nodes: install-sleeper OOMKilled, install-sleeper ImagePullBackOff",
    );
  });

  it("a node whose image is present is not blocked, whatever a newer pod's init container does", () => {
    const report = computeStatus(
      [mapping("web", [{ image: NGINX, daemonSet: "ds-all", container: "c1" }])],
      daemonSets,
      [
        pod("ds-all", "n1", { c1: [NGINX, running] }),
        {
          ...pod("ds-all", "n1", { c1: [NGINX, pulling] }),
          initFailure: { reason: "install-sleeper Error", message: "" },
        },
      ],
    );
    expect(report.workloads[0]?.sleeperFailing).toEqual([]);
    expect(report.workloads[0]?.summary).toBe("1/3 nodes ready");
  });

  it("tells a workload prepull cannot serve why, instead of a count", () => {
    const report = computeStatus(
      [
        {
          ...mapping("win", []),
          unsupported: "pinned to kubernetes.io/os=windows nodes; prepull pre-pulls on Linux nodes only",
        },
      ],
      daemonSets,
      [],
    );
    expect(report.workloads[0]?.summary).toBe(
      "not pre-pulled: pinned to kubernetes.io/os=windows nodes; prepull pre-pulls on Linux nodes only",
    );
  });

  it("a node is ready for a workload only when all its images are there, and failures are named", () => {
    const report = computeStatus(
      [
        mapping("app", [
          { image: NGINX, daemonSet: "ds-all", container: "c1" },
          { image: REDIS, daemonSet: "ds-all", container: "c2" },
        ]),
      ],
      daemonSets,
      [
        pod("ds-all", "n1", { c1: [NGINX, running], c2: [REDIS, running] }),
        pod("ds-all", "n2", { c1: [NGINX, running], c2: [REDIS, failing("ErrImagePull")] }),
        pod("ds-all", "n3", { c1: [NGINX, running], c2: [REDIS, failing("ImagePullBackOff")] }),
      ],
    );
    const status = report.workloads[0];
    expect(status?.readyNodes).toBe(1);
    expect(status?.images[1]?.failing).toEqual([
      { reason: "ErrImagePull", message: "ErrImagePull message", nodes: 1 },
      { reason: "ImagePullBackOff", message: "ImagePullBackOff message", nodes: 1 },
    ]);
    expect(status?.summary).toBe(`2 images: 1/3 nodes ready; 1 failing on 2 nodes: ErrImagePull ${REDIS}`);
    expect(report.images).toEqual([
      { image: NGINX, ready: 3, eligible: 3, failing: 0 },
      { image: REDIS, ready: 1, eligible: 3, failing: 2 },
    ]);
  });

  it("a node where another pod already has the image is not failing (rollout overlap)", () => {
    const report = computeStatus(
      [mapping("web", [{ image: NGINX, daemonSet: "ds-all", container: "c1" }])],
      daemonSets,
      [
        pod("ds-all", "n1", { c1: [NGINX, running] }),
        pod("ds-all", "n1", { c1: [NGINX, failing("ErrImagePull")] }),
      ],
    );
    expect(report.images).toEqual([{ image: NGINX, ready: 1, eligible: 3, failing: 0 }]);
  });

  it("per-image totals count distinct nodes across DaemonSets and shared locations once", () => {
    const report = computeStatus(
      [
        mapping("a", [{ image: NGINX, daemonSet: "ds-all", container: "c1" }]),
        mapping("b", [{ image: NGINX, daemonSet: "ds-all", container: "c1" }]),
        mapping("gpu", [{ image: NGINX, daemonSet: "ds-gpu", container: "c1" }]),
      ],
      daemonSets,
      [
        pod("ds-all", "n1", { c1: [NGINX, running] }),
        pod("ds-all", "n2", { c1: [NGINX, running] }),
        pod("ds-gpu", "g1", { c1: [NGINX, running] }),
      ],
    );
    expect(report.images).toEqual([{ image: NGINX, ready: 3, eligible: 3, failing: 0 }]);
    expect(report.workloads.map((w) => w.summary)).toEqual([
      "2/3 nodes ready",
      "2/3 nodes ready",
      "1/2 nodes ready",
    ]);
  });

  it("a workload whose DaemonSet does not exist yet reads 0/0", () => {
    const report = computeStatus(
      [mapping("new", [{ image: NGINX, daemonSet: "ds-new", container: "c1" }])],
      [],
      [],
    );
    expect(report.workloads[0]?.summary).toBe("0/0 nodes ready");
  });
});

describe("summarize", () => {
  it("says when there is nothing to pre-pull", () => {
    expect(summarize([], 0, 0, 0)).toBe("no images to pre-pull");
  });

  it("stays within the length limit", () => {
    const images = Array.from({ length: 40 }, (_, i) => ({
      image: `registry.example.com/team/some-very-long-image-name-${i}:1.0.0`,
      daemonSet: "ds",
      container: `c${i}`,
      eligible: 3,
      ready: 0,
      failing: [{ reason: "ErrImagePull", message: "", nodes: 3 }],
    }));
    expect(summarize(images, 0, 3, 3).length).toBeLessThanOrEqual(512);
  });
});
