// prepull on the real node: a kubelet with containerd and runc pulls from the plane's registry
// (throttled like a real one). What simulated nodes cannot show: the pre-pull pod really runs
// under runc with prepull's restricted securityContext, images without a shell run the sleeper,
// the images are really on the node (asked through the CRI, not the pod status), status turns
// ready only once the kubelet runs the container, and a scale-out finds its image already there.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { CoreV1Event, V1Deployment, V1Pod } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { daemonSetWith, podsOf, waitFor } from "../../bench/reconcile-harness.ts";
import { REAL_NODE_NAME } from "../../scripts/cluster/real-node/layout.ts";
import { realNodeDeployment } from "../../scripts/cluster/real-node/workload.ts";
import { PULL_FAILED_REASON, STATUS_ANNOTATION } from "../../src/kube/status-writer.ts";
import { adminClients, kubeconfigPath, kubectlPath } from "./support/cluster.ts";
import { withNamespace } from "./support/namespace.ts";
import {
  crictl,
  hasImage,
  images,
  nodeContainers,
  nodeImages,
  type RealNodePrepull,
  realNodeTurnedOff,
  removeImage,
  startRealNodePrepull,
} from "./support/real-node.ts";

const execFileAsync = promisify(execFile);

/** The release namespace enforces Pod Security `restricted`, as the chart's does. */
const RESTRICTED = {
  "pod-security.kubernetes.io/enforce": "restricted",
  "pod-security.kubernetes.io/enforce-version": "latest",
};

let running: RealNodePrepull | undefined;
let releaseNamespace: string;

/** A Deployment pinned to the real node, opted in, one container per image. */
function onRealNode(name: string, images: string[]): V1Deployment {
  return realNodeDeployment({ name, images, optedIn: true });
}

async function statusOf(namespace: string, name: string): Promise<string | undefined> {
  const live = await adminClients().apps.readNamespacedDeployment({ namespace, name });
  return live.metadata?.annotations?.[STATUS_ANNOTATION];
}

/**
 * The pre-pull pod on the real node that runs `image`, looked up afresh: the DaemonSet is shared
 * by every workload of this placement, so another test's workload coming or going replaces it.
 */
async function prePullPod(image: string): Promise<V1Pod | undefined> {
  const ds = await daemonSetWith(adminClients().apps, releaseNamespace, image);
  if (!ds) return undefined;
  return (await podsOf(adminClients().core, releaseNamespace, ds.metadata?.name ?? "")).find(
    (pod) => pod.spec?.nodeName === REAL_NODE_NAME && pod.spec.containers.some((c) => c.image === image),
  );
}

/** Waits for the pre-pull pod in which every one of `images` has its container running. */
function prePullPodRunning(images: string[], timeoutMs = 120_000): Promise<V1Pod> {
  return waitFor(
    `a pre-pull pod running ${images.join(", ")}`,
    async () => {
      const pod = await prePullPod(images[0] ?? "");
      if (!pod) return undefined;
      const names = images.map((image) => containerFor(pod, image));
      return names.every((name) => runningContainers(pod).includes(name)) ? pod : undefined;
    },
    timeoutMs,
    250,
  );
}

function runningContainers(pod: V1Pod): string[] {
  return (pod.status?.containerStatuses ?? []).filter((c) => c.state?.running).map((c) => c.name);
}

/** The container name prepull gave `image` in this pod. */
function containerFor(pod: V1Pod, image: string): string {
  const name = pod.spec?.containers.find((c) => c.image === image)?.name;
  if (!name) throw new Error(`no container for ${image} in ${pod.metadata?.name}`);
  return name;
}

describe.skipIf(realNodeTurnedOff)("on the real node", () => {
  beforeAll(async () => {
    running = await startRealNodePrepull("prepull-real", RESTRICTED);
    releaseNamespace = running.releaseNamespace;
  });

  afterAll(async () => {
    await running?.stop();
  });

  test("a pre-pull pod runs under runc, restricted, and images without a shell run the sleeper", async () => {
    const namespace = await withNamespace("real-run");
    const { scratch, noShell } = images();
    await adminClients().apps.createNamespacedDeployment({
      namespace,
      body: onRealNode("tools", [scratch, noShell]),
    });

    const pod = await prePullPodRunning([scratch, noShell]);
    const containers = [containerFor(pod, scratch), containerFor(pod, noShell)];
    // Admitted in a namespace that enforces `restricted`, with no host access.
    expect(pod.spec?.hostNetwork ?? false).toBe(false);
    expect(pod.spec?.securityContext?.runAsNonRoot).toBe(true);
    expect(pod.spec?.securityContext?.seccompProfile?.type).toBe("RuntimeDefault");

    // The CRI's view: running, under the runc shim.
    const sandboxes = JSON.parse(await crictl("pods", "--name", pod.metadata?.name ?? "", "-o", "json")) as {
      items: { id: string }[];
    };
    const sandbox = sandboxes.items[0]?.id ?? "";
    const criContainers = (await nodeContainers()).filter((c) => c.podSandboxId === sandbox);
    for (const name of containers) {
      const container = criContainers.find((c) => c.metadata.name === name);
      expect(container?.state).toBe("CONTAINER_RUNNING");
      const inspected = JSON.parse(await crictl("inspect", container?.id ?? "")) as {
        info: { runtimeType: string };
      };
      expect(inspected.info.runtimeType).toBe("io.containerd.runc.v2");
    }

    // What each one runs: the sleeper, copied in by the init container (the images have no shell).
    for (const name of containers) {
      // The container runs before its first line reaches the log file: wait for the line.
      const logs = async () =>
        (
          await execFileAsync(kubectlPath(), [
            `--kubeconfig=${kubeconfigPath()}`,
            "logs",
            `--namespace=${releaseNamespace}`,
            pod.metadata?.name ?? "",
            `--container=${name}`,
          ])
        ).stdout;
      const line = "prepull-sleep: holding the image; exits on SIGTERM";
      const stdout = await waitFor(`${name}'s log line`, async () => {
        const text = await logs();
        return text.includes(line) ? text : undefined;
      });
      expect(stdout).toContain(line);
    }
    await waitFor('status "2 images: 1/1 nodes ready"', async () =>
      (await statusOf(namespace, "tools")) === "2 images: 1/1 nodes ready" ? true : undefined,
    );
  });

  test("an unpullable image beside two good ones: the good ones are on the node, the bad one is named", async () => {
    const namespace = await withNamespace("real-fail");
    const { smallA, smallB } = images();
    const missing = "registry.prepull.test/test/small:does-not-exist";
    await removeImage(smallA);
    await removeImage(smallB);
    await adminClients().apps.createNamespacedDeployment({
      namespace,
      body: onRealNode("mixed", [smallA, missing, smallB]),
    });

    await waitFor(
      "both good images on the node",
      async () => ((await hasImage(smallA)) && (await hasImage(smallB)) ? true : undefined),
      120_000,
      500,
    );
    expect(await hasImage(missing)).toBe(false);
    // The digests of the deterministic test images, as containerd stored them.
    const digests = (await nodeImages()).flatMap((image) => image.repoDigests);
    expect(digests).toEqual(
      expect.arrayContaining([
        "registry.prepull.test/test/small@sha256:62b79a7b0da1bcab0c4ce98fbf201707cbbda7ed77c13fd58d308856918e94e2",
        "registry.prepull.test/test/small@sha256:a1e63fea6e937c1374ab315a929ca34d9ad99b2b7e4b73f4a42f4ddc98f9872b",
      ]),
    );

    const status = await waitFor(
      "the status to name the failing image",
      async () => {
        const value = await statusOf(namespace, "mixed");
        return value?.includes(missing) ? value : undefined;
      },
      120_000,
      500,
    );
    expect(status).toMatch(
      /^3 images: 0\/1 nodes ready; 1 failing on 1 node: (ErrImagePull|ImagePullBackOff) /,
    );
    const event = await waitFor("a Warning Event naming the image", async () => {
      const events = await adminClients().core.listNamespacedEvent({ namespace });
      return events.items.find(
        (e: CoreV1Event) =>
          e.reason === PULL_FAILED_REASON &&
          e.involvedObject.name === "mixed" &&
          e.message?.includes(missing),
      );
    });
    expect(event.type).toBe("Warning");
  });

  test("status turns ready only once the kubelet runs the container; a scale-out then finds the image", async () => {
    const namespace = await withNamespace("real-large");
    const { large } = images();
    await removeImage(large); // cold: the pre-pull really pulls
    await adminClients().apps.createNamespacedDeployment({ namespace, body: onRealNode("model", [large]) });
    // Read the workload first, then the pod: whatever the status said, the pod read after it
    // must back it. Samples during the pull show the check is not vacuous.
    let sawPullInProgress = false;
    const readyPod = await waitFor(
      "status 1/1 nodes ready",
      async () => {
        const status = await statusOf(namespace, "model");
        const pod = await prePullPod(large);
        const isRunning = pod !== undefined && runningContainers(pod).includes(containerFor(pod, large));
        if (!isRunning && status !== undefined) sawPullInProgress = true;
        if (status === "1/1 nodes ready") {
          expect(isRunning).toBe(true);
          return pod;
        }
        expect(status ?? "").not.toMatch(/^1\/1 /);
        return undefined;
      },
      170_000,
      200,
    );
    expect(sawPullInProgress).toBe(true);
    // And by the apiserver's clocks: the status write came at or after the container started.
    const live = await adminClients().apps.readNamespacedDeployment({ namespace, name: "model" });
    const statusWrite = (live.metadata?.managedFields ?? [])
      .filter((f) => JSON.stringify(f.fieldsV1 ?? {}).includes(STATUS_ANNOTATION))
      .map((f) => new Date(f.time ?? 0).getTime());
    const startedAt = new Date(
      readyPod?.status?.containerStatuses?.find((c) => c.name === containerFor(readyPod, large))?.state
        ?.running?.startedAt ?? 0,
    ).getTime();
    expect(statusWrite.length).toBeGreaterThan(0);
    expect(Math.max(...statusWrite)).toBeGreaterThanOrEqual(startedAt);

    // Scale-out onto the node: the workload's own pod finds its image already there.
    await adminClients().apps.patchNamespacedDeployment({
      namespace,
      name: "model",
      body: [{ op: "replace", path: "/spec/replicas", value: 1 }],
    });
    const pulled = await waitFor(
      "the new pod's Pulled event",
      async () => {
        const events = await adminClients().core.listNamespacedEvent({ namespace });
        return events.items.find((e) => e.reason === "Pulled" && e.involvedObject.kind === "Pod");
      },
      60_000,
      250,
    );
    // The kubelet's own words (v1.37, with its KEP-2535 credential check).
    expect(pulled.message).toBe(
      `Container image "${large}" already present on machine and can be accessed by the pod`,
    );
  });
});
