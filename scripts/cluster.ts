// npm run cluster:up [-- --nodes N --gpu-nodes N --arm64-nodes N]   start (or reuse) the local plane
//   (with the real node; PREPULL_REAL_NODE=off for none, PREPULL_REGISTRY_MBPS and
//   PREPULL_LARGE_IMAGE_MIB set its registry's rate and its large test image's size)
// npm run cluster:down                                               stop it and remove its state
// node scripts/cluster.ts status                                     say whether it runs, and where
//
// Progress goes to stderr; stdout gets the admin kubeconfig path only, for scripts.
import { rm } from "node:fs/promises";
import { parseArgs } from "node:util";
import { DEFAULT_POOL_SIZES, type PoolSizes } from "./cluster/node-pools.ts";
import { describe } from "./cluster/nodes.ts";
import { clusterPaths } from "./cluster/paths.ts";
import { downPlane, healthyState, upPlane } from "./cluster/plane.ts";
import { progress } from "./cluster/progress.ts";
import { apiserverUrl, type PlaneState } from "./cluster/state.ts";

const USAGE =
  "usage: node scripts/cluster.ts up [--nodes N] [--gpu-nodes N] [--arm64-nodes N] | down | status";

function count(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 5000)
    throw new Error(`--${flag} must be an integer from 0 to 5000, got "${value}"`);
  return n;
}

function realNodeLine(state: PlaneState): string {
  return state.realNode.enabled
    ? `real node ${state.realNode.nodeName} (kubelet + containerd; registry ${state.realNode.registryBytesPerSecond / 1e6} MB/s)`
    : `no real node (${state.realNode.reason})`;
}

async function main(argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      nodes: { type: "string" },
      "gpu-nodes": { type: "string" },
      "arm64-nodes": { type: "string" },
      help: { type: "boolean" },
    },
  });
  const command = positionals[0];
  if (values.help || positionals.length !== 1) {
    console.error(USAGE);
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const log = progress(`cluster ${command}`);
  const paths = clusterPaths();
  switch (command) {
    case "up": {
      const pools: PoolSizes = {
        default: count("nodes", values.nodes, DEFAULT_POOL_SIZES.default),
        gpu: count("gpu-nodes", values["gpu-nodes"], DEFAULT_POOL_SIZES.gpu),
        arm64: count("arm64-nodes", values["arm64-nodes"], DEFAULT_POOL_SIZES.arm64),
      };
      const plane = await upPlane({ log, pools, paths });
      // A person asked for this plane: a test run that started it earlier must not stop it now.
      await rm(paths.startedByTests, { force: true });
      log(
        `plane ${plane.reused ? "reused" : "started"}: ${apiserverUrl(plane.state)}, simulated nodes ${describe(pools)}, ${realNodeLine(plane.state)}`,
      );
      console.error(
        `\n  export KUBECONFIG=${plane.kubeconfig}\n  ${plane.state.binDir}/kubectl get nodes -L prepull.dev/pool\n`,
      );
      console.log(plane.kubeconfig);
      return;
    }
    case "down":
      await downPlane(log, paths);
      log(`stopped; removed ${paths.root}`);
      return;
    case "status": {
      const state = await healthyState(paths);
      if (!state) {
        console.error("no healthy plane is running");
        process.exitCode = 1;
        return;
      }
      console.error(
        `running since ${state.startedAt}: ${apiserverUrl(state)}, Kubernetes ${state.kubernetesVersion}, simulated nodes ${describe(state.pools)}, ${realNodeLine(state)}`,
      );
      console.log(paths.kubeconfig);
      return;
    }
    default:
      console.error(USAGE);
      process.exitCode = 2;
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(`cluster: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
