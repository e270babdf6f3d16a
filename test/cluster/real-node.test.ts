// The real node's pure parts: names it takes on the host, the files it writes for containerd and
// the kubelet, the registry throttle's pacing and the test images' identity. What they produce
// is what the host and the cluster see, so the values are pinned as literals.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { clusterPaths } from "../../scripts/cluster/paths.ts";
import { CLUSTER_DNS_RULES, corefile } from "../../scripts/cluster/real-node/cluster-dns.ts";
import {
  cniConfig,
  containerdConfig,
  registryHostsToml,
} from "../../scripts/cluster/real-node/containerd.ts";
import { largeImageMib, testImages } from "../../scripts/cluster/real-node/images.ts";
import { kubeProxyConfiguration } from "../../scripts/cluster/real-node/kube-proxy.ts";
import { IMAGE_GC, kubeletConfiguration } from "../../scripts/cluster/real-node/kubelet.ts";
import { realNodeLayout } from "../../scripts/cluster/real-node/layout.ts";
import { registryBytesPerSecond } from "../../scripts/cluster/real-node/real-node.ts";
import {
  closeRange,
  openRangeStart,
  SharedRate,
  throttleProxy,
} from "../../scripts/cluster/real-node/throttle-proxy.ts";

const layout = realNodeLayout(clusterPaths("/work/checkout/.prepull/cluster"));

describe("the real node's host-wide names", () => {
  test("carry a hash of the plane's directory, so two checkouts never share one", () => {
    expect(layout.bridge).toBe("prepull667044");
    expect(layout.cgroupRoot).toBe("/prepull-667044");
    expect(layout.podSubnet).toBe("10.243.177.0/24");
    expect(layout.gateway).toBe("10.243.177.1");
    expect(layout.bridge.length).toBeLessThanOrEqual(15); // IFNAMSIZ - 1
    const other = realNodeLayout(clusterPaths("/work/other/.prepull/cluster"));
    expect(other.bridge).not.toBe(layout.bridge);
    expect(other.cgroupRoot).not.toBe(layout.cgroupRoot);
  });

  test("keep every file under the plane's directory", () => {
    for (const path of [
      layout.containerdRoot,
      layout.containerdSocket,
      layout.kubeletRoot,
      layout.registryBlobs,
      layout.kubeProxyConfig,
      layout.kubeProxyKubeconfig,
      layout.clusterDnsCorefile,
      layout.clusterDnsKubeconfig,
    ])
      expect(path.startsWith("/work/checkout/.prepull/cluster/node/")).toBe(true);
  });
});

describe("containerd's configuration", () => {
  const config = containerdConfig(layout);

  test.each([
    ["its own root", 'root = "/work/checkout/.prepull/cluster/node/containerd/root"'],
    ["its own socket", 'address = "/work/checkout/.prepull/cluster/node/containerd/containerd.sock"'],
    ["no oom_score_adj below its own (no CAP_SYS_RESOURCE)", "restrict_oom_score_adj = true"],
    ["the cgroupfs driver (cgroup v1)", "SystemdCgroup = false"],
    ["its own runc root", 'Root = "/work/checkout/.prepull/cluster/node/containerd/runc"'],
    ["the pause image from the local registry", 'sandbox = "registry.prepull.test/prepull/sleeper:dev"'],
    [
      "registry hosts from its own directory",
      'config_path = "/work/checkout/.prepull/cluster/node/containerd/certs.d"',
    ],
    ["no NRI socket on the host", 'disabled_plugins = ["io.containerd.nri.v1.nri"]'],
    ["network namespaces under its state", "netns_mounts_under_state_dir = true"],
  ])("%s", (_what, line) => {
    expect(config).toContain(line);
  });

  test("pulls go to loopback over plain HTTP, with no TLS settings at all", () => {
    expect(registryHostsToml(5123)).toBe(
      'server = "http://127.0.0.1:5123"\n\n[host."http://127.0.0.1:5123"]\n  capabilities = ["pull", "resolve"]\n',
    );
  });

  test("pods get a bridge address, the host an address on the bridge, no default route, and the Service range through the host", () => {
    const conflist = JSON.parse(cniConfig(layout)) as { plugins: Record<string, unknown>[] };
    expect(conflist.plugins).toEqual([
      {
        type: "bridge",
        bridge: "prepull667044",
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: "host-local",
          dataDir: "/work/checkout/.prepull/cluster/node/cni/ipam",
          ranges: [[{ subnet: "10.243.177.0/24" }]],
          routes: [{ dst: "10.96.0.0/16" }],
        },
      },
    ]);
  });
});

describe("the kubelet's configuration", () => {
  const config = kubeletConfiguration(layout, { kubelet: 4001, healthz: 4002 }, "/pki/ca.crt", {
    cert: "/pki/k.crt",
    key: "/pki/k.key",
  }) as Record<string, unknown>;

  test("serves on loopback only, with client certificates and webhook authorisation", () => {
    expect(config).toMatchObject({
      address: "127.0.0.1",
      port: 4001,
      readOnlyPort: 0,
      healthzBindAddress: "127.0.0.1",
      healthzPort: 4002,
      authentication: {
        anonymous: { enabled: false },
        webhook: { enabled: true },
        x509: { clientCAFile: "/pki/ca.crt" },
      },
      authorization: { mode: "Webhook" },
    });
  });

  test("runs on this sandbox: cgroup v1, cgroupfs, its own cgroup root, no oom_score_adj", () => {
    expect(config).toMatchObject({
      failCgroupV1: false,
      cgroupDriver: "cgroupfs",
      cgroupRoot: "/prepull-667044",
      oomScoreAdj: 0,
      failSwapOn: false,
      containerRuntimeEndpoint: "unix:///work/checkout/.prepull/cluster/node/containerd/containerd.sock",
    });
  });

  test("gives ClusterFirst pods the cluster DNS on the bridge address, and others a resolver that resolves nothing", () => {
    expect(config).toMatchObject({
      clusterDNS: ["10.243.177.1"],
      clusterDomain: "cluster.local",
      resolvConf: "/work/checkout/.prepull/cluster/node/resolv.conf",
    });
  });

  test("joins tainted, pulls one image at a time, and collects every unused image each pass", () => {
    expect(config.registerWithTaints).toEqual([
      { key: "prepull.dev/real-node", value: "true", effect: "NoSchedule" },
    ]);
    expect(config.serializeImagePulls).toBe(true);
    expect([config.imageGCHighThresholdPercent, config.imageGCLowThresholdPercent]).toEqual([1, 0]);
    expect(config.imageMinimumGCAge).toBe(IMAGE_GC.minimumAge);
  });
});

describe("kube-proxy's configuration", () => {
  const config = kubeProxyConfiguration(layout, { healthz: 4101, metrics: 4102 }) as Record<string, unknown>;

  test("iptables mode, as node localhost, serving on loopback only", () => {
    expect(config).toMatchObject({
      apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
      kind: "KubeProxyConfiguration",
      mode: "iptables",
      hostnameOverride: "localhost",
      bindAddress: "127.0.0.1",
      healthzBindAddress: "127.0.0.1:4101",
      metricsBindAddress: "127.0.0.1:4102",
      clientConnection: { kubeconfig: "/work/checkout/.prepull/cluster/node/kube-proxy.kubeconfig" },
    });
  });

  test("the pods' subnet is local; NodePorts only on the bridge address, none on localhost", () => {
    expect(config).toMatchObject({
      detectLocalMode: "ClusterCIDR",
      clusterCIDR: "10.243.177.0/24",
      nodePortAddresses: ["10.243.177.1/32"],
      iptables: { localhostNodePorts: false, masqueradeAll: false },
    });
  });

  test("leaves the host's conntrack sysctls and its own oom_score_adj alone", () => {
    expect(config.conntrack).toEqual({
      maxPerCore: 0,
      min: 0,
      tcpEstablishedTimeout: "0s",
      tcpCloseWaitTimeout: "0s",
      udpTimeout: "0s",
      udpStreamTimeout: "0s",
    });
    expect(config.oomScoreAdj).toBe(0);
  });
});

describe("the cluster DNS", () => {
  test("answers the cluster's zones on the bridge address from the apiserver, and forwards nothing", () => {
    expect(corefile(layout, 4201)).toBe(`cluster.local:53 in-addr.arpa:53 ip6.arpa:53 {
    bind 10.243.177.1
    errors
    ready 127.0.0.1:4201
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig /work/checkout/.prepull/cluster/node/cluster-dns.kubeconfig prepull
        pods disabled
        ttl 5
    }
}
`);
  });

  test("may only list and watch what its kubernetes plugin reads", () => {
    expect(CLUSTER_DNS_RULES).toEqual([
      { apiGroups: [""], resources: ["services", "namespaces"], verbs: ["list", "watch"] },
      { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list", "watch"] },
    ]);
  });
});

describe("the registry throttle", () => {
  test.each([
    // [rate B/s, slices of bytes reserved at t=0, expected waits in ms]
    [1_000_000, [50_000, 100_000, 100_000], [0, 0, 100]],
    [1_000, [25, 25, 50], [0, 0, 0]],
    [1_000, [50, 100, 100], [0, 0, 100]],
  ])("at %d B/s, slices %j wait %j ms (a 50 ms burst, then the rate)", (rate, slices, waits) => {
    const limiter = new SharedRate(rate, () => 1_000);
    expect(slices.map((bytes) => Math.round(limiter.reserve(bytes)))).toEqual(waits);
  });

  test("connections share one budget: two streams together get the rate, not twice it", () => {
    let now = 0;
    const limiter = new SharedRate(1_000_000, () => now);
    const waits: number[] = [];
    // Two streams of 1 MB each, in 100 kB slices, interleaved, all asking at t=0.
    for (let i = 0; i < 20; i++) waits.push(limiter.reserve(100_000));
    expect(waits.at(-1)).toBe(1_900); // the last slice starts 1.9 s in: 2 MB at 1 MB/s
    now = 5_000; // after a quiet spell only the burst is free again
    expect([limiter.reserve(50_000), limiter.reserve(50_000)]).toEqual([0, 0]);
    expect(limiter.reserve(50_000)).toBe(50);
  });
});

describe("the registry throttle's ranges", () => {
  test.each([
    ["bytes=100-", 100],
    ["bytes=0-", 0],
    [" bytes=7- ", 7],
    ["bytes=100-199", undefined], // closed: passes unchanged
    ["bytes=-100", undefined], // a suffix range: passes unchanged
    ["bytes=1-,5-", undefined],
    [undefined, undefined],
  ])("%j opens at %j", (range, start) => {
    expect(openRangeStart(range)).toBe(start);
  });

  test.each([
    [100, 1000, "bytes=100-999"],
    [0, 1, "bytes=0-0"],
    [999, 1000, "bytes=999-999"],
    [1000, 1000, undefined],
    [5, 0, undefined],
  ])("from %d in a blob of %d bytes: %j", (start, size, closed) => {
    expect(closeRange(start, size)).toBe(closed);
  });

  // A registry that, like crane's, understands only `bytes=N-M`; what containerd sends when it
  // resumes a download is `bytes=N-`.
  const blob = Buffer.from("0123456789abcdefghij");
  let registry: Server;
  let proxy: Server;
  const seen: (string | undefined)[] = [];

  beforeAll(async () => {
    registry = createServer((request, response) => {
      seen.push(request.headers.range);
      if (request.method === "HEAD") {
        response.writeHead(200, { "content-length": blob.length }).end();
        return;
      }
      const range = request.headers.range;
      if (range === undefined) {
        response.writeHead(200, { "content-length": blob.length }).end(blob);
        return;
      }
      const match = /^bytes=(\d+)-(\d+)$/.exec(range);
      if (!match) {
        response.writeHead(416).end("We don't understand your Range");
        return;
      }
      const [start, end] = [Number(match[1]), Number(match[2])];
      response
        .writeHead(206, { "content-range": `bytes ${start}-${end}/${blob.length}` })
        .end(blob.subarray(start, end + 1));
    });
    await new Promise<void>((resolve) => registry.listen(0, "127.0.0.1", resolve));
    proxy = throttleProxy((registry.address() as AddressInfo).port, new SharedRate(10_000_000));
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  });

  afterAll(async () => {
    await new Promise((resolve) => proxy.close(resolve));
    await new Promise((resolve) => registry.close(resolve));
  });

  const get = (range?: string) =>
    fetch(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}/v2/x/blobs/sha256:1`, {
      headers: range === undefined ? {} : { range },
    });

  test("a resumed download (bytes=N-) gets the rest of the blob, through the proxy", async () => {
    seen.length = 0;
    const resumed = await get("bytes=12-");
    expect(resumed.status).toBe(206);
    expect(await resumed.text()).toBe("cdefghij");
    expect(seen).toEqual([undefined, "bytes=12-19"]); // a HEAD for the size, then the closed range
  });

  test("whole blobs and closed ranges pass unchanged; a start past the end is a 416", async () => {
    seen.length = 0;
    expect(await (await get()).text()).toBe(blob.toString());
    expect(await (await get("bytes=0-3")).text()).toBe("0123");
    expect((await get("bytes=20-")).status).toBe(416);
    expect(seen).toEqual([undefined, "bytes=0-3", undefined]);
  });
});

describe("the test images", () => {
  const images = testImages("/bin/prepull-sleep", 1024);

  test("have stable references in the plane's registry", () => {
    expect(Object.values(images).map((i) => i.reference)).toEqual([
      "registry.prepull.test/prepull/sleeper:dev",
      "registry.prepull.test/test/large:1024mib",
      "registry.prepull.test/test/large-twin:1024mib",
      "registry.prepull.test/test/scratch-static:1",
      "registry.prepull.test/test/no-shell:1",
      "registry.prepull.test/test/small:a",
      "registry.prepull.test/test/small:b",
      "registry.prepull.test/test/small:c",
    ]);
  });

  test("the large ones are four random layers of a quarter each, plus the sleeper", () => {
    expect(images.large.layers).toHaveLength(5);
    expect(images.large.layers.slice(0, 4).map((l) => (l[0] as { randomBytes: number }).randomBytes)).toEqual(
      Array(4).fill(256 * 1024 * 1024),
    );
    expect(images.large.layers[0]).not.toEqual(images.largeTwin.layers[0]);
  });

  test("the scratch image holds one file and the shell-less one no shell", () => {
    expect(images.scratch.layers.flat().map((f) => f.path)).toEqual(["/prepull-sleep"]);
    const paths = images.noShell.layers.flat().map((f) => f.path);
    expect(paths.some((p) => /\/(ba)?sh$/.test(p))).toBe(false);
  });

  test.each([
    [undefined, 1024],
    ["64", 64],
  ])("PREPULL_LARGE_IMAGE_MIB=%s gives %d MiB", (raw, mib) => {
    expect(largeImageMib(raw === undefined ? {} : { PREPULL_LARGE_IMAGE_MIB: raw })).toBe(mib);
  });

  test.each(["0", "6", "1.5", "big"])(
    "PREPULL_LARGE_IMAGE_MIB=%s is refused with the setting's name",
    (raw) => {
      expect(() => largeImageMib({ PREPULL_LARGE_IMAGE_MIB: raw })).toThrow(
        /^PREPULL_LARGE_IMAGE_MIB must be a multiple of 4/,
      );
    },
  );
});

describe("the registry's rate", () => {
  test.each([
    [undefined, 100_000_000],
    ["80", 80_000_000],
    ["0.5", 500_000],
  ])("PREPULL_REGISTRY_MBPS=%s gives %d bytes per second", (raw, bytes) => {
    expect(registryBytesPerSecond(raw === undefined ? {} : { PREPULL_REGISTRY_MBPS: raw })).toBe(bytes);
  });

  test.each(["0", "-1", "fast"])("PREPULL_REGISTRY_MBPS=%s is refused with the setting's name", (raw) => {
    expect(() => registryBytesPerSecond({ PREPULL_REGISTRY_MBPS: raw })).toThrow(
      /^PREPULL_REGISTRY_MBPS must be/,
    );
  });
});
