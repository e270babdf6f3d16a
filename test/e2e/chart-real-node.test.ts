// What users install, run for real: the image `npm run image:build` makes (no Docker) pushed to
// the plane's registry, and the chart installed with it onto the real node (kubelet + containerd
// + runc), with cert-manager's own controller and CA injector issuing its certificates.
//
// No substitutions: the webhook pods run from the image under Pod Security "restricted", talk to
// the apiserver with their mounted ServiceAccount token (in-cluster config), serve the Secret
// cert-manager wrote, and the apiserver calls them through the chart's Service and webhook
// configuration. The apiserver runs with --enable-aggregator-routing, so it calls a Service's
// ready endpoint (a pod address on the real node's bridge, which the host reaches); pods reach
// the apiserver at the bridge address (real-node/apiserver-forward.ts), set through the chart's
// extraEnv. Pods reach Services as in any cluster: the Service's name through the node's cluster
// DNS (CoreDNS on the bridge address), its cluster IP through kube-proxy's rules on the host,
// which is how `helm test` calls the webhook. Nothing leaves the machine.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { promisify } from "node:util";
import { BatchV1Api, CoordinationV1Api, CustomObjectsApi, type V1Pod } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { silentProgress } from "../../scripts/cluster/progress.ts";
import { REAL_NODE_NAME, REAL_NODE_PLACEMENT } from "../../scripts/cluster/real-node/layout.ts";
import { realNodeDeployment } from "../../scripts/cluster/real-node/workload.ts";
import { type BuiltImage, buildImage, sleeperBinaries } from "../../scripts/image/build-image.ts";
import { LOCAL_IMAGE } from "../../scripts/image/recipe.ts";
import { TRACKED_IMAGES_ANNOTATION } from "../../src/core/mutate.ts";
import { chartDir, helm } from "../support/helm.ts";
import { installThirdPartyCrds, type Running, startCertManager } from "./support/cert-manager-plane.ts";
import { adminClients, kubeconfigPath, kubectlPath } from "./support/cluster.ts";
import { createNamespace, deleteNamespace } from "./support/namespace.ts";
import { crictl, hasImage, images, realNode, realNodeTurnedOff, removeImage } from "./support/real-node.ts";

const execFileAsync = promisify(execFile);
const release = `rn-${randomBytes(3).toString("hex")}`;
const fullname = `${release}-prepull`;
const selector = `app.kubernetes.io/instance=${release},app.kubernetes.io/component=webhook`;
const repository = `registry.prepull.test/${LOCAL_IMAGE.repository}`;

let namespace = "";
let appNamespace = "";
let valuesDir = "";
let built: BuiltImage | undefined;
let certManager: Running[] = [];

function helmIn(...args: string[]) {
  return helm([...args, "--namespace", namespace, "--kubeconfig", kubeconfigPath()]);
}

async function webhookPods(): Promise<V1Pod[]> {
  const pods = await adminClients().core.listNamespacedPod({ namespace, labelSelector: selector });
  return pods.items.filter((p) => p.metadata?.deletionTimestamp === undefined);
}

function isReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

/** The serving certificate a pod presents, checked as the apiserver checks it (CA bundle, Service name). */
async function servingSerial(podIp: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(
      { host: podIp, port: 8443, ca, servername: `${fullname}.${namespace}.svc`, timeout: 5_000 },
      () => {
        resolve(socket.getPeerCertificate().serialNumber);
        socket.end();
      },
    );
    socket.on("error", reject);
  });
}

/** Runs a Node.js ES module in the first webhook pod (the image has no shell) through `kubectl exec`. */
async function nodeInWebhookPod(script: string): Promise<string> {
  const pod = (await webhookPods())[0]?.metadata?.name ?? "";
  const { stdout } = await execFileAsync(kubectlPath(), [
    "--kubeconfig",
    kubeconfigPath(),
    "exec",
    "--namespace",
    namespace,
    pod,
    "--",
    "/nodejs/bin/node",
    "--input-type=module",
    "--eval",
    script,
  ]);
  return stdout.trim();
}

async function tlsSecret(): Promise<{ ca: string; crt: string }> {
  const secret = await adminClients().core.readNamespacedSecret({ name: `${fullname}-tls`, namespace });
  const pem = (key: string) => Buffer.from(secret.data?.[key] ?? "", "base64").toString("utf8");
  return { ca: pem("ca.crt"), crt: pem("tls.crt") };
}

/**
 * A client that keeps going through the apiserver's admission chain: dry-run creates of an
 * opted-in Deployment, each of which must come back patched by prepull. The webhook fails open
 * (failurePolicy Ignore), so an answer without the patch is a failed call.
 */
function keepRequesting(): { stop(): Promise<{ ok: number; failed: string[] }> } {
  let running = true;
  let ok = 0;
  const failed: string[] = [];
  const loop = (async () => {
    for (let i = 0; running; i++) {
      try {
        const answer = await adminClients().apps.createNamespacedDeployment({
          namespace: appNamespace,
          body: realNodeDeployment({ name: `probe-${i}`, images: [images().smallA], optedIn: true }),
          dryRun: "All",
        });
        if (answer.metadata?.annotations?.[TRACKED_IMAGES_ANNOTATION] === undefined)
          failed.push(`probe-${i}: admitted without prepull's patch`);
        else ok++;
      } catch (error) {
        failed.push(`probe-${i}: ${(error as Error).message}`);
      }
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { ok, failed };
    },
  };
}

describe.skipIf(realNodeTurnedOff)("the chart from the locally built image, on the real node", () => {
  beforeAll(async () => {
    const node = realNode();
    await installThirdPartyCrds();
    built = await buildImage({
      target: `127.0.0.1:${node.ports.registry}/${LOCAL_IMAGE.repository}:${LOCAL_IMAGE.tag}`,
      craneBinary: join(inject("kubeBinDir"), "crane"),
      sleeperBinaries: sleeperBinaries(inject("kubeBinDir")),
      log: silentProgress(),
    });
    certManager = startCertManager();
    namespace = await createNamespace("prepull-rn");
    appNamespace = await createNamespace("prepull-rn-app");
    await adminClients().core.patchNamespace({
      name: namespace,
      body: [
        { op: "add", path: "/metadata/labels/pod-security.kubernetes.io~1enforce", value: "restricted" },
      ],
    });
    valuesDir = mkdtempSync(join(tmpdir(), "prepull-rn-values-"));
    writeFileSync(
      join(valuesDir, "values.json"),
      JSON.stringify({
        image: { repository, digest: built.digest },
        nodeSelector: REAL_NODE_PLACEMENT.nodeSelector,
        tolerations: REAL_NODE_PLACEMENT.tolerations,
        extraEnv: [
          { name: "KUBERNETES_SERVICE_HOST", value: node.apiserverForPods.host },
          { name: "KUBERNETES_SERVICE_PORT", value: String(node.apiserverForPods.port) },
        ],
      }),
    );
    const install = helmIn("install", release, chartDir, "--values", join(valuesDir, "values.json"));
    expect(install.status, install.stderr).toBe(0);
  }, 900_000);

  afterAll(async () => {
    if (namespace) {
      helmIn("uninstall", release, "--wait=false");
      await deleteNamespace(namespace);
    }
    if (appNamespace) await deleteNamespace(appNamespace);
    for (const process of certManager) await process.stop();
    if (valuesDir) rmSync(valuesDir, { recursive: true, force: true });
  });

  it("the image has no shell and runs as 65532 with the Dockerfile's entrypoint", async () => {
    const crane = join(inject("kubeBinDir"), "crane");
    const target = `127.0.0.1:${realNode().ports.registry}/${LOCAL_IMAGE.repository}@${built?.digest}`;
    const { stdout: config } = await execFileAsync(crane, ["config", target]);
    expect(JSON.parse(config).config).toMatchObject({
      User: "65532:65532",
      Entrypoint: ["/nodejs/bin/node", "/app/dist/main.js"],
      WorkingDir: "/app",
    });
    const { stdout: files } = await execFileAsync(
      "bash",
      ["-c", 'set -o pipefail; "$0" export "$1" - | tar -t', crane, target],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    const paths = files.split("\n").map((p) => p.replace(/^\.?\//, ""));
    for (const expected of [
      "nodejs/bin/node",
      "app/dist/main.js",
      "usr/local/bin/prepull-sleep",
      "etc/passwd",
    ])
      expect(paths).toContain(expected);
    for (const shell of ["sh", "bash", "dash", "busybox", "ash"])
      expect(paths.filter((p) => p.split("/").at(-1) === shell)).toEqual([]);
  });

  it("the image is one index of a linux/amd64 and a linux/arm64 image, each with binaries of its own platform", async () => {
    const crane = join(inject("kubeBinDir"), "crane");
    const target = `127.0.0.1:${realNode().ports.registry}/${LOCAL_IMAGE.repository}@${built?.digest}`;
    const { stdout: index } = await execFileAsync(crane, ["manifest", target]);
    const manifests = (JSON.parse(index) as { manifests: { digest: string; platform: unknown }[] }).manifests;
    expect(manifests.map((m) => m.platform)).toEqual([
      { architecture: "amd64", os: "linux" },
      { architecture: "arm64", os: "linux" },
    ]);
    expect(manifests.map((m) => m.digest)).toEqual(built?.platforms.map((p) => p.digest));
    // ELF e_machine (bytes 18–19): 62 is x86-64, 183 is AArch64.
    const machineOf = async (platform: string, path: string) => {
      const { stdout } = await execFileAsync(
        "bash",
        [
          "-c",
          '"$0" export --platform "$1" "$2" - | tar -xOf - "$3" | head -c 20 | od -An -tu1',
          crane,
          platform,
          target,
          path,
        ],
        { maxBuffer: 1024 * 1024 },
      );
      const bytes = stdout.trim().split(/\s+/).map(Number);
      return [bytes.slice(0, 4), bytes[18]];
    };
    for (const [platform, machine] of [
      ["linux/amd64", 62],
      ["linux/arm64", 183],
    ] as const) {
      for (const binary of ["nodejs/bin/node", "usr/local/bin/prepull-sleep"])
        expect(await machineOf(platform, binary), `${platform} ${binary}`).toEqual([
          [127, 69, 76, 70],
          machine,
        ]);
    }
  });

  it("both replicas run the image on the real node, become Ready, and one leads", async () => {
    await vi.waitFor(
      async () => {
        const pods = await webhookPods();
        expect(pods.map((p) => [p.spec?.nodeName, isReady(p)])).toEqual([
          [REAL_NODE_NAME, true],
          [REAL_NODE_NAME, true],
        ]);
      },
      { timeout: 180_000, interval: 1_000 },
    );
    const pods = await webhookPods();
    for (const pod of pods) {
      const status = pod.status?.containerStatuses?.[0];
      expect(status?.imageID).toBe(`${repository}@${built?.digest}`);
      expect(status?.restartCount).toBe(0);
    }
    const names = pods.map((p) => p.metadata?.name);
    const coordination = adminClients().kubeConfig.makeApiClient(CoordinationV1Api);
    await vi.waitFor(
      async () => {
        const lease = await coordination.readNamespacedLease({ name: "prepull-reconciler", namespace });
        // The identity is <pod name>_<pid>; in its container the server is process 1.
        expect(names.map((n) => `${n}_1`)).toContain(lease.spec?.holderIdentity);
      },
      { timeout: 60_000, interval: 500 },
    );
    // The in-cluster configuration, not a kubeconfig: the mounted token against the apiserver.
    const { stdout } = await execFileAsync(join(inject("kubeBinDir"), "kubectl"), [
      "--kubeconfig",
      kubeconfigPath(),
      "logs",
      "-n",
      namespace,
      names[0] ?? "",
      "--tail=-1",
    ]);
    expect(stdout).toContain('"source":"in-cluster"');
  });

  it("pods have no default route: their own subnet on the bridge, and the Service range through the host", async () => {
    const pod = (await webhookPods())[0];
    const sandboxes = JSON.parse(
      await crictl("pods", "-o", "json", "--name", pod?.metadata?.name ?? "", "--namespace", namespace),
    ) as { items: { id: string }[] };
    const inspect = JSON.parse(await crictl("inspectp", sandboxes.items[0]?.id ?? "")) as {
      info: { runtimeSpec: { linux: { namespaces: { type: string; path?: string }[] } } };
    };
    const netns = inspect.info.runtimeSpec.linux.namespaces.find((n) => n.type === "network")?.path;
    const { stdout } = await execFileAsync("nsenter", [`--net=${netns}`, "ip", "-4", "route"]);
    const gateway = realNode().apiserverForPods.host;
    const subnet = gateway.replace(/\.1$/, ".0/24");
    const routes = stdout
      .trim()
      .split("\n")
      .map((line) => line.trim());
    expect(routes.filter((line) => line.startsWith("default"))).toEqual([]);
    expect(routes.sort()).toEqual(
      [
        // The Services' cluster IPs (the plane's --service-cluster-ip-range), to the host's bridge address.
        `10.96.0.0/16 via ${gateway} dev eth0`,
        `${subnet} dev eth0 proto kernel scope link src ${pod?.status?.podIP}`,
      ].sort(),
    );
  });

  it("the apiserver calls the webhook through the chart's Service, and the DaemonSet prepull wrote pre-pulls on the node", async () => {
    const { admission, apps, core, kubeConfig } = adminClients();
    // Wait until the cainjector has filled the caBundle.
    await vi.waitFor(
      async () => {
        const config = await admission.readMutatingWebhookConfiguration({ name: fullname });
        expect(config.webhooks?.[0]?.clientConfig.service?.name).toBe(fullname);
        expect(config.webhooks?.[0]?.clientConfig.url).toBeUndefined();
        expect(Buffer.from(config.webhooks?.[0]?.clientConfig.caBundle ?? "", "base64").toString()).toBe(
          (await tlsSecret()).ca,
        );
      },
      { timeout: 120_000, interval: 500 },
    );
    const endpoints = await kubeConfig.makeApiClient(CustomObjectsApi).listNamespacedCustomObject({
      group: "discovery.k8s.io",
      version: "v1",
      namespace,
      plural: "endpointslices",
      labelSelector: `kubernetes.io/service-name=${fullname}`,
    });
    const addresses = (endpoints as { items: { endpoints: { addresses: string[] }[] }[] }).items
      .flatMap((s) => s.endpoints)
      .flatMap((e) => e.addresses)
      .sort();
    expect(addresses).toEqual((await webhookPods()).map((p) => p.status?.podIP).sort());

    await removeImage(images().smallB);
    // The apiserver learns of the webhook configuration and Service through watches.
    await vi.waitFor(
      async () => {
        const answer = await apps.createNamespacedDeployment({
          namespace: appNamespace,
          body: realNodeDeployment({ name: "web", images: [images().smallB], optedIn: true }),
          dryRun: "All",
        });
        expect(answer.metadata?.annotations?.[TRACKED_IMAGES_ANNOTATION]).toBeDefined();
      },
      { timeout: 60_000, interval: 500 },
    );
    await apps.createNamespacedDeployment({
      namespace: appNamespace,
      body: realNodeDeployment({ name: "web", images: [images().smallB], optedIn: true }),
    });
    const stored = await apps.readNamespacedDeployment({ namespace: appNamespace, name: "web" });
    expect(stored.metadata?.annotations?.[TRACKED_IMAGES_ANNOTATION]).toBe("sha256:2bf4e40b1c4470c3");

    await vi.waitFor(
      async () => {
        const daemonSets = await apps.listNamespacedDaemonSet({ namespace });
        const pulled = daemonSets.items.flatMap((d) => d.spec?.template.spec?.containers.map((c) => c.image));
        expect(pulled).toEqual([images().smallB]);
        const pods = await core.listNamespacedPod({ namespace, labelSelector: "prepull.dev/daemonset" });
        expect(pods.items.map((p) => [p.spec?.nodeName, p.status?.phase])).toEqual([
          [REAL_NODE_NAME, "Running"],
        ]);
        expect(await hasImage(images().smallB)).toBe(true);
      },
      { timeout: 120_000, interval: 1_000 },
    );
    await vi.waitFor(
      async () => {
        const web = await apps.readNamespacedDeployment({ namespace: appNamespace, name: "web" });
        expect(web.metadata?.annotations?.["prepull.dev/status"]).toBe("1/1 nodes ready");
      },
      { timeout: 60_000, interval: 500 },
    );
  });

  it("a pod on the real node resolves the Service's name to its cluster IP and reaches the webhook through it", async () => {
    const service = await adminClients().core.readNamespacedService({ name: fullname, namespace });
    const clusterIp = service.spec?.clusterIP ?? "";
    expect(clusterIp).toMatch(/^10\.96\.\d+\.\d+$/);
    const gateway = realNode().apiserverForPods.host;
    expect(realNode().clusterDns).toBe(gateway);
    // The kubelet's clusterDNS and the cluster's search domains, as in any cluster.
    const resolvConf = await nodeInWebhookPod(
      'import { readFileSync } from "node:fs"; console.log(readFileSync("/etc/resolv.conf", "utf8"));',
    );
    expect(resolvConf.split("\n").filter((line) => !line.startsWith("#"))).toEqual([
      `search ${namespace}.svc.cluster.local svc.cluster.local cluster.local`,
      `nameserver ${gateway}`,
      "options ndots:5",
    ]);
    const resolved = JSON.parse(
      await nodeInWebhookPod(`
        import { lookup, resolve4 } from "node:dns/promises";
        const full = await lookup("${fullname}.${namespace}.svc.cluster.local", { family: 4 });
        // What the chart's helm test and webhook configuration use: the short name, through the search list.
        const short = await lookup("${fullname}.${namespace}.svc", { family: 4 });
        // Nothing is forwarded outside the machine: any other name is refused by the cluster DNS.
        const outside = await resolve4("example.com").then((a) => a, (e) => e.code);
        console.log(JSON.stringify({ full: full.address, short: short.address, outside }));`),
    ) as { full: string; short: string; outside: unknown };
    expect(resolved).toEqual({ full: clusterIp, short: clusterIp, outside: "EREFUSED" });

    // The webhook through the cluster IP: only kube-proxy's DNAT on the host leads there.
    const { ca } = await tlsSecret();
    const answer = await nodeInWebhookPod(`
      import { request } from "node:https";
      const body = JSON.stringify({
        apiVersion: "admission.k8s.io/v1",
        kind: "AdmissionReview",
        request: {
          uid: "5f0c1a3e-7c4e-4d0a-9a55-0d6c1f7e2b11",
          kind: { group: "", version: "v1", kind: "ConfigMap" },
          resource: { group: "", version: "v1", resource: "configmaps" },
          namespace: "default",
          operation: "CREATE",
          userInfo: { username: "e2e" },
          object: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "probe", namespace: "default" } },
          dryRun: true,
        },
      });
      const req = request(
        { host: "${clusterIp}", port: 443, path: "/mutate", method: "POST", ca: ${JSON.stringify(ca)},
          servername: "${fullname}.${namespace}.svc",
          headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
        (res) => {
          let text = "";
          res.on("data", (chunk) => { text += chunk; });
          res.on("end", () => console.log(JSON.stringify({ status: res.statusCode, response: JSON.parse(text).response })));
        },
      );
      req.end(body);`);
    expect(JSON.parse(answer)).toEqual({
      status: 200,
      response: { uid: "5f0c1a3e-7c4e-4d0a-9a55-0d6c1f7e2b11", allowed: true },
    });
  });

  it("helm test passes: the chart's test pod calls the webhook through the Service's name", async () => {
    const started = Date.now();
    // No --logs: the hook's delete policy (hook-succeeded) removes the pod before Helm reads them.
    const test = helmIn("test", release, "--timeout=3m");
    console.log(`helm test took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    expect(test.status, `${test.stdout}\n${test.stderr}`).toBe(0);
    expect(test.stdout).toContain(`TEST SUITE:     ${fullname}-test-webhook`);
    // The pod exits 0 only for an allowed AdmissionReview that echoes its request's uid.
    expect(test.stdout).toContain("Phase:          Succeeded");
  });

  it("cert-manager renews the serving certificate while a client keeps calling: 0 failed, no restarts", async () => {
    const before = await webhookPods();
    const old = await tlsSecret();
    const oldSerials = await Promise.all(before.map((p) => servingSerial(p.status?.podIP ?? "", old.ca)));
    expect(new Set(oldSerials).size).toBe(1);
    const client = keepRequesting();
    // What `cmctl renew` does: the Issuing condition on the Certificate's status.
    const custom = adminClients().kubeConfig.makeApiClient(CustomObjectsApi);
    const certificate = (await custom.getNamespacedCustomObject({
      group: "cert-manager.io",
      version: "v1",
      namespace,
      plural: "certificates",
      name: `${fullname}-serving`,
    })) as { status?: { conditions?: object[] } };
    const issuing = {
      type: "Issuing",
      status: "True",
      reason: "ManuallyTriggered",
      message: "Certificate re-issuance manually triggered",
      lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    };
    // A merge patch of the status subresource (the typed client sends JSON patches only).
    await execFileAsync(kubectlPath(), [
      "--kubeconfig",
      kubeconfigPath(),
      "patch",
      "certificate",
      `${fullname}-serving`,
      "--namespace",
      namespace,
      "--subresource=status",
      "--type=merge",
      "--patch",
      JSON.stringify({ status: { conditions: [...(certificate.status?.conditions ?? []), issuing] } }),
    ]);
    // The kubelet swaps the Secret volume's ..data link; the server reloads without a restart.
    await vi.waitFor(
      async () => {
        const renewed = await tlsSecret();
        expect(renewed.crt).not.toBe(old.crt);
        const serials = await Promise.all(
          before.map((p) => servingSerial(p.status?.podIP ?? "", renewed.ca)),
        );
        for (const serial of serials) expect(serial).not.toBe(oldSerials[0]);
      },
      { timeout: 240_000, interval: 2_000 },
    );
    const { ok, failed } = await client.stop();
    expect(failed).toEqual([]);
    expect(ok).toBeGreaterThan(0);
    const after = await webhookPods();
    expect(after.map((p) => p.metadata?.uid).sort()).toEqual(before.map((p) => p.metadata?.uid).sort());
    for (const pod of after) expect(pod.status?.containerStatuses?.[0]?.restartCount).toBe(0);
  });

  it("helm upgrade to a changed value rolls the pods with no failed admission", async () => {
    const before = (await webhookPods()).map((p) => p.metadata?.name);
    const client = keepRequesting();
    const upgrade = helmIn(
      "upgrade",
      release,
      chartDir,
      "--values",
      join(valuesDir, "values.json"),
      "--set",
      "logLevel=debug",
      "--wait",
      "--timeout=5m",
    );
    expect(upgrade.status, upgrade.stderr).toBe(0);
    // Until the old pods are gone (preStop sleep, then drain), the client keeps going.
    await vi.waitFor(
      async () => {
        const pods = await adminClients().core.listNamespacedPod({ namespace, labelSelector: selector });
        expect(pods.items.filter((p) => before.includes(p.metadata?.name))).toEqual([]);
      },
      { timeout: 120_000, interval: 1_000 },
    );
    const { ok, failed } = await client.stop();
    expect(failed).toEqual([]);
    expect(ok).toBeGreaterThan(0);
    const after = await webhookPods();
    expect(after.map((p) => [p.spec?.nodeName, isReady(p)])).toEqual([
      [REAL_NODE_NAME, true],
      [REAL_NODE_NAME, true],
    ]);
    for (const pod of after)
      expect(pod.spec?.containers[0]?.env?.find((e) => e.name === "LOG_LEVEL")?.value).toBe("debug");
  });

  it("helm uninstall leaves nothing behind: webhook configuration, pods, DaemonSets, Secrets, annotations, Leases", async () => {
    const { apps, core } = adminClients();
    // What prepull made at run time, before: its DaemonSet and its annotations on the workload.
    expect((await apps.listNamespacedDaemonSet({ namespace })).items).not.toEqual([]);
    // The post-delete hook Job runs on the real node, like the webhook's pods; Helm waits for it.
    const uninstall = helmIn("uninstall", release, "--wait", "--timeout=4m");
    expect(uninstall.status, uninstall.stderr).toBe(0);
    expect((await apps.listNamespacedDaemonSet({ namespace })).items.map((d) => d.metadata?.name)).toEqual(
      [],
    );
    const owned = await core.listNamespacedSecret({
      namespace,
      labelSelector: "app.kubernetes.io/managed-by=prepull",
    });
    expect(owned.items.map((s) => s.metadata?.name)).toEqual([]);
    const web = await apps.readNamespacedDeployment({ namespace: appNamespace, name: "web" });
    expect(
      Object.keys(web.metadata?.annotations ?? {}).filter((key) => key.startsWith("prepull.dev/")),
    ).toEqual([]);
    expect(web.metadata?.annotations?.prepull).toBe("true");
    const leases = await adminClients()
      .kubeConfig.makeApiClient(CoordinationV1Api)
      .listNamespacedLease({ namespace });
    expect(leases.items.map((l) => l.metadata?.name)).toEqual([]);
    // The hook cleaned up after itself too (it succeeded: hook-succeeded deletes its objects).
    const jobs = await adminClients().kubeConfig.makeApiClient(BatchV1Api).listNamespacedJob({ namespace });
    expect(jobs.items.map((j) => j.metadata?.name)).toEqual([]);
    const configurations = await adminClients().admission.listMutatingWebhookConfiguration();
    expect(configurations.items.map((c) => c.metadata?.name)).not.toContain(fullname);
    await vi.waitFor(
      async () => {
        const pods = await adminClients().core.listNamespacedPod({ namespace, labelSelector: selector });
        expect(pods.items.map((p) => p.metadata?.name)).toEqual([]);
      },
      { timeout: 60_000, interval: 500 },
    );
  });
});
