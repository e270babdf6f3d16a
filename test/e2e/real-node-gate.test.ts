// Node readiness gating on the real node: the kubelet joins the cluster with prepull's startup
// taint, as a node added by an autoscaler would. The workload pod waiting for a node stays off it
// while the pre-pull pod really pulls the large image; prepull then removes the taint, and the
// workload pod lands and starts without pulling.
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { waitFor } from "../../bench/reconcile-harness.ts";
import { clusterPaths } from "../../scripts/cluster/paths.ts";
import { silentProgress } from "../../scripts/cluster/progress.ts";
import { REAL_NODE_NAME } from "../../scripts/cluster/real-node/layout.ts";
import { joinRealNode, leaveRealNode } from "../../scripts/cluster/real-node/real-node.ts";
import { realNodeDeployment } from "../../scripts/cluster/real-node/workload.ts";
import { adminClients } from "./support/cluster.ts";
import { withNamespace } from "./support/namespace.ts";
import { GATE_TAINT, gateEnv, NodeTimeline } from "./support/node-gate.ts";
import {
  images,
  type RealNodePrepull,
  realNode,
  realNodeTurnedOff,
  removeImage,
  startRealNodePrepull,
} from "./support/real-node.ts";

let running: RealNodePrepull | undefined;

describe.skipIf(realNodeTurnedOff)("node readiness gating on the real node", () => {
  beforeAll(async () => {
    running = await startRealNodePrepull("prepull-gate", {}, gateEnv());
  });

  afterAll(async () => {
    await running?.stop();
  });

  test("a kubelet joining with the startup taint takes the workload pod only once the image is there", async () => {
    const namespace = await withNamespace("real-gate");
    const { large } = images();
    const { core, apps } = adminClients();
    await removeImage(large); // the pre-pull on the joining node is a real, cold pull

    // The node leaves; the workload (one replica) waits for a node while it is away.
    await leaveRealNode(clusterPaths(), core);
    // This prepull may already pre-pull onto the node for workloads earlier test files left behind
    // (their namespaces are still terminating). Its pods stay bound to the departed node's name
    // until the pod garbage collector removes them, and the node that joins under the same name
    // would start with them and their old status. Remove them as that collector would.
    const releaseNamespace = running?.releaseNamespace ?? "";
    const boundHere = async () =>
      (
        await core.listNamespacedPod({
          namespace: releaseNamespace,
          fieldSelector: `spec.nodeName=${REAL_NODE_NAME}`,
        })
      ).items;
    for (const pod of await boundHere())
      await core.deleteNamespacedPod({
        namespace: releaseNamespace,
        name: pod.metadata?.name ?? "",
        gracePeriodSeconds: 0,
      });
    await waitFor("no pre-pull pod bound to the departed node", async () =>
      (await boundHere()).length === 0 ? true : undefined,
    );
    await apps.createNamespacedDeployment({
      namespace,
      body: realNodeDeployment({ name: "model", images: [large], optedIn: true, replicas: 1 }),
    });
    // prepull has turned it into a pre-pull DaemonSet before the node comes back: a node that no
    // DaemonSet targets is released at once, which is right, but is not what this test is about.
    await waitFor("prepull's DaemonSet for the workload", async () => {
      const daemonSets = await apps.listNamespacedDaemonSet({ namespace: running?.releaseNamespace ?? "" });
      return daemonSets.items.find((ds) =>
        ds.spec?.template.spec?.containers.some((container) => container.image === large),
      );
    });
    const timeline = new NodeTimeline(REAL_NODE_NAME);
    await timeline.start();
    await joinRealNode(
      clusterPaths(),
      inject("kubeBinDir"),
      realNode(),
      core,
      [GATE_TAINT],
      silentProgress(),
    );

    // Ready, yet gated while the pre-pull pod pulls: prepull releases it once the image is there.
    await waitFor("prepull to release the node", async () => timeline.releasedAt(), 300_000, 250).catch(
      (error: unknown) => {
        throw new Error(`${error}; the node went through ${JSON.stringify(timeline.moments)}`);
      },
    );
    expect(timeline.moments.some((m) => m.ready && m.gated)).toBe(true);

    // Released only once the image is there: the pre-pull pod's pull finished before the release.
    const pulledAt = await waitFor("the pre-pull pod's Pulled event", async () => {
      const events = await core.listNamespacedEvent({
        namespace: running?.releaseNamespace ?? "",
        fieldSelector: "reason=Pulled",
      });
      const event = events.items.find((e) => e.message?.startsWith(`Successfully pulled image "${large}"`));
      return event ? new Date(event.lastTimestamp ?? event.eventTime ?? 0).getTime() : undefined;
    });
    const releasedAt = timeline.releasedAt() ?? 0;
    expect(releasedAt).toBeGreaterThanOrEqual(pulledAt - 1_000); // event times have 1 s resolution

    // The workload pod was scheduled only after the release, and found its image there.
    const [pod] = (await core.listNamespacedPod({ namespace, labelSelector: "app=model" })).items;
    const scheduled = pod?.status?.conditions?.find((c) => c.type === "PodScheduled" && c.status === "True");
    expect(pod?.spec?.nodeName).toBe(REAL_NODE_NAME);
    expect(new Date(scheduled?.lastTransitionTime ?? 0).getTime()).toBeGreaterThanOrEqual(releasedAt - 1_000);
    const pulled = await waitFor(
      "the workload pod's Pulled event",
      async () => {
        const events = await core.listNamespacedEvent({ namespace, fieldSelector: "reason=Pulled" });
        return events.items[0];
      },
      120_000,
      250,
    );
    expect(pulled.message).toBe(
      `Container image "${large}" already present on machine and can be accessed by the pod`,
    );
    const readyAt = timeline.firstReadyAt() ?? 0;
    console.log(
      `real node: Ready → released in ${((releasedAt - readyAt) / 1000).toFixed(1)} s ` +
        `(the pre-pull's pull of ${realNode().largeImageMib} MiB inside it)`,
    );
  }, 420_000);
});
