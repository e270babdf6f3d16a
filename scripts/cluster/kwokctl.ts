// The plane through kwok's own runner: `kwokctl create cluster --runtime binary` starts etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler and kwok-controller from the cached
// binaries, writes their PKI and kubeconfig, ships kwok's default Stages (nodes Ready with Lease
// heartbeats; pods Running, Succeeded, deleted) and `kwokctl delete cluster` removes it all.
// What kwokctl does not do by default, the configuration below adds as component flags.
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type ClusterPaths, KWOKCTL_CLUSTER_NAME, REPO_ROOT } from "./paths.ts";
import { SERVICE_CLUSTER_IP_RANGE } from "./service-network.ts";
import type { PlaneState } from "./state.ts";

/** The first address of the range: the `kubernetes` Service, which in-cluster clients dial. */
const KUBERNETES_SERVICE_IP = "10.96.0.1";
const NODE_LEASE_SECONDS = 120;
const AUDIT_POLICY = join(REPO_ROOT, "scripts", "cluster", "audit-policy.yaml");

interface ExtraArg {
  key: string;
  value: string;
  /** Replace kwokctl's own value of the flag instead of adding one. */
  override?: boolean;
}

function flags(entries: Record<string, string>): ExtraArg[] {
  return Object.entries(entries).map(([key, value]) => ({ key, value }));
}

export interface KwokctlInput {
  paths: ClusterPaths;
  binDir: string;
  ports: PlaneState["ports"];
  /** The real node's bridge address: pods there reach the apiserver at it (real-node/apiserver-forward.ts). */
  podGateway: string;
}

/** The kwokctl and kwok configuration documents, as kwokctl reads them from `--config`. */
export function kwokctlConfiguration({ paths, binDir, ports, podGateway }: KwokctlInput): string {
  const pki = (file: string) => join(paths.pki, file);
  // Without a certificate they serve /healthz with a self-signed one, which no probe can verify;
  // kwokctl's certificate is for 127.0.0.1 and localhost.
  const SERVE_WITH_PLANE_CERTIFICATE = {
    "tls-cert-file": pki("admin.crt"),
    "tls-private-key-file": pki("admin.key"),
  };
  const kwokctl = {
    apiVersion: "config.kwok.x-k8s.io/v1alpha1",
    kind: "KwokctlConfiguration",
    options: {
      runtime: "binary",
      // Everything on loopback (kwokctl's default is 0.0.0.0).
      bindAddress: "127.0.0.1",
      // Local paths: kwokctl links them into its cluster directory and downloads nothing.
      kubeApiserverBinary: join(binDir, "kube-apiserver"),
      kubeControllerManagerBinary: join(binDir, "kube-controller-manager"),
      kubeSchedulerBinary: join(binDir, "kube-scheduler"),
      kubectlBinary: join(binDir, "kubectl"),
      etcdBinary: join(binDir, "etcd"),
      kwokControllerBinary: join(binDir, "kwok"),
      // Free ports picked by the plane (ports.ts), so two checkouts' planes never collide.
      kubeApiserverPort: ports.apiserver,
      etcdPort: ports.etcdClient,
      etcdPeerPort: ports.etcdPeer,
      kubeControllerManagerPort: ports.controllerManager,
      kubeSchedulerPort: ports.scheduler,
      kwokControllerPort: ports.kwok,
      // What ServiceAccounts and the fault tests' replicas do (test/e2e/least-privilege.test.ts).
      kubeAuditPolicy: AUDIT_POLICY,
      // kwokctl's one certificate serves the apiserver; in-cluster clients dial these addresses.
      kubeApiserverCertSANs: [KUBERNETES_SERVICE_IP, podGateway],
      // kwokctl multiplies every heartbeat setting by 5 unless told 1.
      heartbeatFactor: 1,
      // Heartbeats through Leases, renewed every quarter of this: 1000 nodes cost the apiserver
      // 33 writes/s instead of 100 with the usual 40 s.
      nodeLeaseDurationSeconds: NODE_LEASE_SECONDS,
      // Longer than the lease, so a node is NotReady only when kwok really stopped.
      kubeControllerManagerNodeMonitorGracePeriodMilliseconds: (NODE_LEASE_SECONDS + 30) * 1000,
    },
    componentsPatches: [
      {
        name: "etcd",
        // A throwaway test store: durability across power loss is not worth an fsync per write.
        extraArgs: flags({ "unsafe-no-fsync": "true", "log-level": "warn" }),
      },
      {
        name: "kube-apiserver",
        extraArgs: flags({
          // The defaults (MutatingAdmissionWebhook among them) plus what kubeadm adds.
          "enable-admission-plugins": "NodeRestriction",
          "service-cluster-ip-range": SERVICE_CLUSTER_IP_RANGE,
          // The endpoint reconciler refuses a loopback advertise address; nothing here runs inside
          // the cluster, so the `kubernetes` Service needs no endpoints.
          "endpoint-reconciler-type": "none",
          // The real node is `localhost` and reports it as its Hostname address: `kubectl logs` and
          // exec reach its kubelet on loopback (kwok's nodes also say `localhost`, at kwok's port).
          "kubelet-preferred-address-types": "Hostname",
          // The apiserver's identity towards kubelets: kwokctl's admin certificate (system:masters).
          "kubelet-client-certificate": pki("admin.crt"),
          "kubelet-client-key": pki("admin.key"),
          "kubelet-certificate-authority": pki("ca.crt"),
          // Webhooks (and aggregated APIs) are called at an endpoint of their Service, not its
          // cluster IP: only the real node runs kube-proxy (its iptables rules are host-wide, so
          // one plane per machine may have it; KWOK-only planes have none), and the real node's
          // pod addresses are reachable from the host on its bridge.
          "enable-aggregator-routing": "true",
          profiling: "false",
          // The audit log bounded in size.
          "audit-log-maxsize": "200",
          "audit-log-maxbackup": "1",
        }),
      },
      {
        name: "kube-controller-manager",
        extraArgs: flags({
          ...SERVE_WITH_PLANE_CERTIFICATE,
          "leader-elect": "false",
          // Each controller acts as its own ServiceAccount, as in a real cluster, so RBAC applies.
          "use-service-account-credentials": "true",
          // CSRs (the real node's kubelet serving certificate rotation) signed by the plane's CA.
          "cluster-signing-cert-file": pki("ca.crt"),
          "cluster-signing-key-file": pki("ca.key"),
          "service-cluster-ip-range": SERVICE_CLUSTER_IP_RANGE,
          "cluster-name": "prepull",
          // The defaults (20/30) make a DaemonSet over 1000 nodes take a minute just to create pods.
          "kube-api-qps": "200",
          "kube-api-burst": "400",
          "concurrent-daemonset-syncs": "4",
          profiling: "false",
        }),
      },
      {
        name: "kube-scheduler",
        extraArgs: flags({
          ...SERVE_WITH_PLANE_CERTIFICATE,
          "leader-elect": "false",
          "kube-api-qps": "200",
          "kube-api-burst": "400",
          profiling: "false",
        }),
      },
      {
        name: "kwok-controller",
        extraArgs: [
          // Only the simulated nodes (created with this annotation); the real node has a kubelet.
          { key: "manage-all-nodes", value: "false", override: true },
          ...flags({
            "manage-nodes-with-annotation-selector": "kwok.x-k8s.io/node=fake",
            // Pod IPs for up to 65k pods (the default /24 runs out past 254).
            cidr: "10.0.0.1/16",
          }),
        ],
      },
    ],
  };
  const kwok = {
    apiVersion: "config.kwok.x-k8s.io/v1alpha1",
    kind: "KwokConfiguration",
    // Four workers each (the defaults) leave 1000 new nodes waiting minutes for their first status.
    options: { nodePlayStageParallelism: 16, podPlayStageParallelism: 16, nodeLeaseParallelism: 8 },
  };
  return `${JSON.stringify(kwokctl, null, 2)}\n---\n${JSON.stringify(kwok, null, 2)}\n`;
}

/**
 * The environment of every kwokctl command: its workdir inside the plane's directory, and the
 * cached binaries first on PATH (kwokctl probes the apiserver with the kubectl it finds there).
 */
function kwokctlEnv(paths: ClusterPaths, binDir: string): NodeJS.ProcessEnv {
  return { ...process.env, KWOK_WORKDIR: paths.kwokctlWorkdir, PATH: `${binDir}:${process.env.PATH ?? ""}` };
}

/**
 * The kubeconfig kwokctl adds its context to (and removes it from), inside its workdir: by default
 * it edits $KUBECONFIG or ~/.kube/config. (`delete cluster` refuses an empty path: "empty path".)
 */
function ownKubeconfig(paths: ClusterPaths): string {
  return `--kubeconfig=${join(paths.kwokctlWorkdir, "kubeconfig")}`;
}

export interface KwokctlRun {
  /** Resolves with kwokctl's exit code and its combined output. */
  done: Promise<{ code: number | null; output: string }>;
  /** Stops kwokctl itself (not the components it started). */
  kill(): void;
}

function run(paths: ClusterPaths, binDir: string, args: readonly string[]): KwokctlRun {
  const child = spawn(join(binDir, "kwokctl"), [`--name=${KWOKCTL_CLUSTER_NAME}`, ...args], {
    env: kwokctlEnv(paths, binDir),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const append = (chunk: Buffer) => {
    output += chunk.toString("utf8");
  };
  child.stdout.on("data", append);
  child.stderr.on("data", append);
  const done = new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, output }));
  });
  return { done, kill: () => child.kill("SIGTERM") };
}

/**
 * Writes the configuration and runs `kwokctl create cluster`. It does not wait for readiness (on a
 * component that cannot start kwokctl waits two minutes and still exits 0): the plane waits on
 * each component's health itself and kills this run if one exits.
 */
export async function createCluster(input: KwokctlInput): Promise<KwokctlRun> {
  await writeFile(input.paths.kwokctlConfig, kwokctlConfiguration(input));
  return run(input.paths, input.binDir, [
    `--config=${input.paths.kwokctlConfig}`,
    "create",
    "cluster",
    ownKubeconfig(input.paths),
  ]);
}

/** `kwokctl delete cluster`: SIGKILLs every component by its pid file and removes the cluster directory. */
export async function deleteCluster(paths: ClusterPaths, binDir: string): Promise<void> {
  const { code, output } = await run(paths, binDir, ["delete", "cluster", ownKubeconfig(paths)]).done;
  if (code !== 0) throw new Error(`kwokctl delete cluster exited with ${code}:\n${output.trim()}`);
}
