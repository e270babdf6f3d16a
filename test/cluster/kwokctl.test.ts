// The configuration `kwokctl create cluster` gets: what the e2e suite relies on beyond kwokctl's
// defaults (the audit policy, admission plugins, the kubelet client, loopback, ports it did not
// choose, the heartbeats, kwok leaving the real node alone). Pinned as literals: a changed flag
// changes the plane every test runs on.
import { describe, expect, test } from "vitest";
import { parseAllDocuments } from "yaml";
import { kwokctlConfiguration } from "../../scripts/cluster/kwokctl.ts";
import { clusterPaths, REPO_ROOT } from "../../scripts/cluster/paths.ts";

const paths = clusterPaths("/work/checkout/.prepull/cluster");
const BIN = "/cache/bin";
const PKI = "/work/checkout/.prepull/cluster/kwokctl/clusters/prepull/pki";

const documents = parseAllDocuments(
  kwokctlConfiguration({
    paths,
    binDir: BIN,
    ports: {
      etcdClient: 40001,
      etcdPeer: 40002,
      apiserver: 40003,
      controllerManager: 40004,
      scheduler: 40005,
      kwok: 40006,
    },
    podGateway: "10.243.177.1",
  }),
).map((document) => document.toJS());

const [kwokctl, kwok] = documents as [
  {
    kind: string;
    options: Record<string, unknown>;
    componentsPatches: { name: string; extraArgs: { key: string; value: string; override?: boolean }[] }[];
  },
  { kind: string; options: Record<string, unknown> },
];

/** A patch's flags as kwokctl renders them onto the command line. */
function flagsOf(component: string): string[] {
  const patch = kwokctl.componentsPatches.find((p) => p.name === component);
  return (patch?.extraArgs ?? []).map((a) => `--${a.key}=${a.value}${a.override ? " (override)" : ""}`);
}

describe("the kwokctl configuration of the plane", () => {
  test("is two documents kwokctl reads: its own options and kwok's", () => {
    expect(documents).toHaveLength(2);
    expect(kwokctl.kind).toBe("KwokctlConfiguration");
    expect(kwok.kind).toBe("KwokConfiguration");
  });

  test("runs the cached binaries on loopback, on the plane's ports, with the project's audit policy", () => {
    expect(kwokctl.options).toEqual({
      runtime: "binary",
      bindAddress: "127.0.0.1",
      kubeApiserverBinary: "/cache/bin/kube-apiserver",
      kubeControllerManagerBinary: "/cache/bin/kube-controller-manager",
      kubeSchedulerBinary: "/cache/bin/kube-scheduler",
      kubectlBinary: "/cache/bin/kubectl",
      etcdBinary: "/cache/bin/etcd",
      kwokControllerBinary: "/cache/bin/kwok",
      kubeApiserverPort: 40003,
      etcdPort: 40001,
      etcdPeerPort: 40002,
      kubeControllerManagerPort: 40004,
      kubeSchedulerPort: 40005,
      kwokControllerPort: 40006,
      kubeAuditPolicy: `${REPO_ROOT}/scripts/cluster/audit-policy.yaml`,
      kubeApiserverCertSANs: ["10.96.0.1", "10.243.177.1"],
      heartbeatFactor: 1,
      nodeLeaseDurationSeconds: 120,
      kubeControllerManagerNodeMonitorGracePeriodMilliseconds: 150_000,
    });
  });

  test.each([
    ["etcd", ["--unsafe-no-fsync=true", "--log-level=warn"]],
    [
      "kube-apiserver",
      [
        "--enable-admission-plugins=NodeRestriction",
        "--service-cluster-ip-range=10.96.0.0/16",
        "--endpoint-reconciler-type=none",
        "--kubelet-preferred-address-types=Hostname",
        `--kubelet-client-certificate=${PKI}/admin.crt`,
        `--kubelet-client-key=${PKI}/admin.key`,
        `--kubelet-certificate-authority=${PKI}/ca.crt`,
        "--enable-aggregator-routing=true",
        "--profiling=false",
        "--audit-log-maxsize=200",
        "--audit-log-maxbackup=1",
      ],
    ],
    [
      "kube-controller-manager",
      [
        `--tls-cert-file=${PKI}/admin.crt`,
        `--tls-private-key-file=${PKI}/admin.key`,
        "--leader-elect=false",
        "--use-service-account-credentials=true",
        `--cluster-signing-cert-file=${PKI}/ca.crt`,
        `--cluster-signing-key-file=${PKI}/ca.key`,
        "--service-cluster-ip-range=10.96.0.0/16",
        "--cluster-name=prepull",
        "--kube-api-qps=200",
        "--kube-api-burst=400",
        "--concurrent-daemonset-syncs=4",
        "--profiling=false",
      ],
    ],
    [
      "kube-scheduler",
      [
        `--tls-cert-file=${PKI}/admin.crt`,
        `--tls-private-key-file=${PKI}/admin.key`,
        "--leader-elect=false",
        "--kube-api-qps=200",
        "--kube-api-burst=400",
        "--profiling=false",
      ],
    ],
    [
      "kwok-controller",
      [
        // kwokctl passes --manage-all-nodes=true; replaced so kwok leaves the real node to its kubelet.
        "--manage-all-nodes=false (override)",
        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
        "--cidr=10.0.0.1/16",
      ],
    ],
  ])("adds to %s's command line %j", (component, flags) => {
    expect(flagsOf(component)).toEqual(flags);
  });

  test("patches no component kwokctl does not run", () => {
    expect(kwokctl.componentsPatches.map((p) => p.name)).toEqual([
      "etcd",
      "kube-apiserver",
      "kube-controller-manager",
      "kube-scheduler",
      "kwok-controller",
    ]);
  });

  test("gives kwok enough workers for 1000 nodes", () => {
    expect(kwok.options).toEqual({
      nodePlayStageParallelism: 16,
      podPlayStageParallelism: 16,
      nodeLeaseParallelism: 8,
    });
  });
});

describe("the plane's directories", () => {
  test("put kwokctl's cluster, and with it the PKI, logs and pid files, inside the plane's directory", () => {
    expect(paths).toMatchObject({
      kwokctlWorkdir: "/work/checkout/.prepull/cluster/kwokctl",
      kwokctlConfig: "/work/checkout/.prepull/cluster/kwokctl.yaml",
      kwokctlCluster: "/work/checkout/.prepull/cluster/kwokctl/clusters/prepull",
      pki: PKI,
      logs: "/work/checkout/.prepull/cluster/kwokctl/clusters/prepull/logs",
      pids: "/work/checkout/.prepull/cluster/kwokctl/clusters/prepull/pids",
      kubeconfig: "/work/checkout/.prepull/cluster/kubeconfig",
    });
  });
});
