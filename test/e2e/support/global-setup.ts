// Once per e2e run: bring the local control plane up (reusing a running one) and hand the admin
// kubeconfig to the tests. At the end, stop the plane only if a test run started it, no other run
// still uses it, and PREPULL_KEEP_CLUSTER is not 1 — a plane a person started stays up.

import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import type { TestProject } from "vitest/node";
import { downPlane, upPlane } from "../../../scripts/cluster/plane.ts";
import { progress } from "../../../scripts/cluster/progress.ts";
import type { RealNode } from "../../../scripts/cluster/real-node/real-node.ts";
import { otherLiveUsers, registerUser, unregisterUser } from "../../../scripts/cluster/users.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** Path of the plane's admin kubeconfig (system:masters). */
    kubeconfig: string;
    /** Directory with kubectl, kube-apiserver, etcd, kwok and helm. */
    kubeBinDir: string;
    /** The kubelet + containerd node, or why the plane has none. */
    realNode: RealNode;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const log = progress("e2e plane");
  const plane = await upPlane({ log });
  await registerUser(plane.paths);
  if (!plane.reused) await writeFile(plane.paths.startedByTests, `${process.pid}\n`);
  log(`plane ${plane.reused ? "reused" : "started"}; kubeconfig ${plane.kubeconfig}`);
  project.provide("kubeconfig", plane.kubeconfig);
  project.provide("kubeBinDir", plane.state.binDir);
  project.provide("realNode", plane.state.realNode);

  return async () => {
    await unregisterUser(plane.paths);
    if (process.env.PREPULL_KEEP_CLUSTER === "1") return log("PREPULL_KEEP_CLUSTER=1: leaving the plane up");
    if (!existsSync(plane.paths.startedByTests))
      return log("leaving the plane up (not started by a test run)");
    const others = await otherLiveUsers(plane.paths);
    if (others.length > 0) return log(`leaving the plane up (still used by process ${others.join(", ")})`);
    await downPlane(log, plane.paths);
    log("plane stopped");
  };
}
