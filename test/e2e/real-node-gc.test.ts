// Reference counting reaches the node: once the last workload using an image drops it, prepull's
// pre-pull pod no longer runs it, no container on the node pins it, and the kubelet's own image
// garbage collection removes it, while an image still wanted survives the same pass.
//
// The kubelet runs image GC every 5 minutes (a fixed period; the real node's thresholds make
// every pass free all unused images), so this test waits for the next pass: up to 5 minutes,
// twice that if the pass comes within the image's minimum age. A kubelet restarted just before
// (the gating test re-joins the node) starts the schedule again, and its first pass fails: in one
// full run the image went 552 s after it was unpinned. Bounded at 16 minutes (three passes).
import type { V1Deployment } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { daemonSetWith, podsOf, waitFor } from "../../bench/reconcile-harness.ts";
import { REAL_NODE_NAME } from "../../scripts/cluster/real-node/layout.ts";
import { realNodeDeployment } from "../../scripts/cluster/real-node/workload.ts";
import { STATUS_ANNOTATION } from "../../src/kube/status-writer.ts";
import { adminClients } from "./support/cluster.ts";
import { withNamespace } from "./support/namespace.ts";
import {
  hasImage,
  images,
  nodeContainers,
  nodeImages,
  type RealNodePrepull,
  realNodeTurnedOff,
  startRealNodePrepull,
} from "./support/real-node.ts";

const GC_WAIT_MS = 16 * 60_000;

let running: RealNodePrepull | undefined;

function workload(images: string[]): V1Deployment {
  return realNodeDeployment({ name: "gc", images, optedIn: true });
}

describe.skipIf(realNodeTurnedOff)("image garbage collection on the real node", () => {
  beforeAll(async () => {
    running = await startRealNodePrepull("prepull-gc");
  });

  afterAll(async () => {
    await running?.stop();
  });

  test(
    "an image no workload wants is unpinned and collected; a wanted one survives the same pass",
    async () => {
      const namespace = await withNamespace("real-gc");
      const { smallC: dropped, noShell: kept, sleeper } = images();
      await adminClients().apps.createNamespacedDeployment({ namespace, body: workload([dropped, kept]) });
      await waitFor(
        "both images pre-pulled",
        async () => {
          const status = await adminClients().apps.readNamespacedDeployment({ namespace, name: "gc" });
          return status.metadata?.annotations?.[STATUS_ANNOTATION] === "2 images: 1/1 nodes ready"
            ? true
            : undefined;
        },
        120_000,
        500,
      );
      expect(await hasImage(dropped)).toBe(true);

      // The workload drops the image: prepull's DaemonSet stops running it.
      await adminClients().apps.patchNamespacedDeployment({
        namespace,
        name: "gc",
        body: [
          { op: "replace", path: "/spec/template/spec/containers", value: [{ name: "c0", image: kept }] },
        ],
      });
      await waitFor(
        "no pre-pull pod with the dropped image",
        async () => {
          const ds = await daemonSetWith(adminClients().apps, running?.releaseNamespace ?? "", kept);
          if (!ds || ds.spec?.template.spec?.containers.some((c) => c.image === dropped)) return undefined;
          const pods = await podsOf(
            adminClients().core,
            running?.releaseNamespace ?? "",
            ds.metadata?.name ?? "",
          );
          const onNode = pods.filter((p) => p.spec?.nodeName === REAL_NODE_NAME);
          const stale = onNode.some((p) => p.spec?.containers.some((c) => c.image === dropped));
          return !stale && onNode.length === 1 ? true : undefined;
        },
        120_000,
        500,
      );
      // Nothing on the node pins it any more: no container, running or exited.
      const droppedId = (await nodeImages()).find((i) => i.repoTags.includes(dropped))?.id;
      await waitFor(
        "no container using the dropped image",
        async () => ((await nodeContainers()).some((c) => c.imageRef === droppedId) ? undefined : true),
        60_000,
        500,
      );

      const started = Date.now();
      await waitFor(
        "the kubelet's image GC to remove the dropped image",
        async () => ((await hasImage(dropped)) ? undefined : true),
        GC_WAIT_MS,
        2_000,
      );
      console.log(
        `image GC removed ${dropped} ${((Date.now() - started) / 1000).toFixed(0)} s after it was unpinned`,
      );
      expect(await hasImage(kept)).toBe(true);
      expect(await hasImage(sleeper)).toBe(true);
    },
    GC_WAIT_MS + 300_000,
  );
});
