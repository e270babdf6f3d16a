// The chart against the real control plane, with cert-manager's CRDs installed:
// 1. every object the chart renders (defaults and the ci/ values files) is accepted by the
//    apiserver in a server-side dry run, and its pods pass the apiserver's own Pod Security
//    "restricted" enforcement;
// 2. `helm install` into the plane, with cert-manager's controllers issuing the CA chain and its
//    cainjector filling the webhook's caBundle (both cert-manager's own code, built by
//    test/support/cert-manager-lite), and the apiserver then calling prepull through the chart's
//    own MutatingWebhookConfiguration (service reference, TLS verified against the injected CA).
//    Here the pods run on kwok nodes (no containers), so the one substitution is the chart's
//    Service: it is replaced by one of the same name whose endpoint is the real prepull server,
//    listening on this host's address on the real node's bridge with the certificate
//    cert-manager issued. The apiserver resolves a webhook's service reference to an endpoint of
//    that Service and verifies the serving certificate for <service>.<namespace>.svc.
//    (chart-real-node.test.ts runs the chart's pods themselves, from the image, on the real node.)
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes, X509Certificate } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CustomObjectsApi, DiscoveryV1Api, PolicyV1Api, type V1Pod } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { freeLoopbackPort } from "../../scripts/cluster/ports.ts";
import { certManagerLiteBinary, thirdPartyCrdFiles } from "../support/cert-manager.ts";
import { chartDir, helm, type Manifest, parseManifests, renderChart } from "../support/helm.ts";
import { repoRoot } from "../support/kube-bin.ts";
import { adminClients, kubeconfigPath, kubectlPath } from "./support/cluster.ts";
import { createNamespace, deleteNamespace } from "./support/namespace.ts";
import { realNode, realNodeTurnedOff } from "./support/real-node.ts";
import { deployment } from "./support/workloads.ts";

const ciValues = (file: string): string[] => ["--values", join(chartDir, "ci", file)];

/**
 * kubectl with the admin kubeconfig. Raw manifests go through kubectl, not the client library's
 * typed serializer, which drops fields its models spell differently (a NetworkPolicy's "from",
 * a CRD schema's "x-kubernetes-*") and would so send something other than what was rendered.
 */
function kubectl(args: readonly string[], input?: string): { status: number | null; output: string } {
  const result = spawnSync(kubectlPath(), ["--kubeconfig", kubeconfigPath(), ...args], {
    input,
    encoding: "utf8",
  });
  if (result.error !== undefined) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

async function installCrds(): Promise<void> {
  const files = thirdPartyCrdFiles();
  // Server-side apply: CRDs are too large for client-side apply's last-applied annotation.
  const args = ["apply", "--server-side", "--field-manager=prepull-e2e", ...files.flatMap((f) => ["-f", f])];
  const applied = kubectl(args);
  expect(applied.status, applied.output).toBe(0);
  const names = files.flatMap((f) =>
    parseManifests(readFileSync(f, "utf8")).map((crd) => `crd/${crd.metadata.name}`),
  );
  const established = kubectl(["wait", "--for=condition=Established", "--timeout=60s", ...names]);
  expect(established.status, established.output).toBe(0);
}

/** A namespace where the apiserver's PodSecurity admission enforces "restricted". */
async function restrictedNamespace(): Promise<string> {
  const name = await createNamespace("prepull-chart");
  await adminClients().core.patchNamespace({
    name,
    body: [{ op: "add", path: "/metadata/labels/pod-security.kubernetes.io~1enforce", value: "restricted" }],
  });
  return name;
}

/**
 * What the apiserver says to a server-side dry-run create of one object: "ok" or its message.
 * Field validation is strict, so a field the API does not know is an error, not silently dropped.
 */
function dryRunCreate(manifest: Manifest): string {
  const result = kubectl(
    ["create", "--dry-run=server", "--validate=strict", "-o", "name", "-f", "-"],
    JSON.stringify(manifest),
  );
  return result.status === 0 ? "ok" : result.output;
}

beforeAll(installCrds, 600_000);

describe.each([
  ["default values", []],
  ["ci/full-values.yaml", ciValues("full-values.yaml")],
  ["ci/no-cert-manager-values.yaml", ciValues("no-cert-manager-values.yaml")],
])("the chart rendered with %s", (_name, args) => {
  let namespace = "";
  let manifests: Manifest[] = [];

  beforeAll(async () => {
    namespace = await restrictedNamespace();
    manifests = renderChart({ release: `dry-${randomBytes(3).toString("hex")}`, namespace, args });
  });
  afterAll(async () => {
    if (namespace) await deleteNamespace(namespace);
  });

  it("is accepted object by object by the apiserver (server-side dry run)", async () => {
    const verdicts: Record<string, string> = {};
    for (const manifest of manifests) {
      verdicts[`${manifest.kind}/${manifest.metadata.name}`] = dryRunCreate(manifest);
    }
    expect(Object.keys(verdicts).length).toBeGreaterThanOrEqual(10);
    for (const [object, verdict] of Object.entries(verdicts)) expect(verdict, object).toBe("ok");
  });

  it("makes pods the apiserver admits under Pod Security restricted enforcement", async () => {
    const template = manifests.find((m) => m.kind === "Deployment")?.spec as
      | { template: { metadata: V1Pod["metadata"]; spec: V1Pod["spec"] } }
      | undefined;
    const webhookPod: Manifest = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "webhook-pod", namespace, labels: template?.template.metadata?.labels ?? {} },
      spec: template?.template.spec,
    };
    // The ServiceAccount admission plugin wants the pod's ServiceAccount to exist: create it for real.
    const account = manifests.find((m) => m.kind === "ServiceAccount");
    const created = kubectl(["create", "-f", "-"], JSON.stringify(account));
    expect(created.status, created.output).toBe(0);
    const testPod = manifests.find((m) => m.kind === "Pod");
    expect(testPod).toBeDefined();
    for (const pod of [webhookPod, testPod]) if (pod) expect(dryRunCreate(pod), pod.metadata.name).toBe("ok");
  });

  it("(control) the same namespace rejects a pod that is not restricted", async () => {
    const privileged: Manifest = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "privileged", namespace },
      spec: {
        containers: [
          { name: "c", image: "registry.k8s.io/pause:3.10", securityContext: { privileged: true } },
        ],
      },
    };
    expect(dryRunCreate(privileged)).toContain('violates PodSecurity "restricted');
  });
});

// ---------------------------------------------------------------------------------------------

interface Running {
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Running {
  const child = spawn(command, args, { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    output += chunk;
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    output += chunk;
  });
  const exited = once(child, "exit");
  return {
    child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** GET over HTTPS, verifying the certificate for `servername` against `ca`. */
function httpsGet(host: string, port: number, path: string, ca: string, servername: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, ca, servername, timeout: 2_000 }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end();
  });
}

interface CertificateStatus {
  status?: { conditions?: { type: string; status: string; message?: string }[] };
}

describe("helm install into the real plane, with cert-manager", () => {
  const release = `chart-${randomBytes(3).toString("hex")}`;
  const fullname = `${release}-prepull`;
  let namespace = "";
  let appNamespace = "";
  let port = 0;
  let certDir = "";
  let controller: Running | undefined;
  let cainjector: Running | undefined;
  let prepull: Running | undefined;
  const logs = (): string =>
    `--- controller\n${controller?.output().slice(-4000)}\n--- cainjector\n${cainjector?.output().slice(-4000)}\n--- prepull\n${prepull?.output().slice(-4000)}`;

  beforeAll(async () => {
    const binary = certManagerLiteBinary();
    namespace = await createNamespace("prepull-release");
    appNamespace = await createNamespace("prepull-app");
    port = await freeLoopbackPort();
    const env = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", KUBECONFIG: kubeconfigPath() };
    controller = run(binary, ["controller"], env);
    cainjector = run(binary, ["cainjector"], env);
    const install = helm([
      "install",
      release,
      chartDir,
      "--namespace",
      namespace,
      "--kubeconfig",
      kubeconfigPath(),
      "--set",
      `service.port=${port}`,
    ]);
    expect(install.status, install.stderr).toBe(0);
  }, 1_200_000);

  afterAll(async () => {
    await prepull?.stop();
    await controller?.stop();
    await cainjector?.stop();
    if (namespace) {
      helm([
        "uninstall",
        release,
        "--namespace",
        namespace,
        "--kubeconfig",
        kubeconfigPath(),
        "--wait=false",
      ]);
      await deleteNamespace(namespace);
    }
    if (appNamespace) await deleteNamespace(appNamespace);
    if (certDir) rmSync(certDir, { recursive: true, force: true });
  });

  it("cert-manager issues the CA and the serving certificate for the Service's DNS name", async () => {
    const custom = adminClients().kubeConfig.makeApiClient(CustomObjectsApi);
    for (const name of [`${fullname}-ca`, `${fullname}-serving`]) {
      await vi.waitFor(
        async () => {
          const certificate = (await custom.getNamespacedCustomObject({
            group: "cert-manager.io",
            version: "v1",
            namespace,
            plural: "certificates",
            name,
          })) as CertificateStatus;
          const ready = certificate.status?.conditions?.find((c) => c.type === "Ready");
          expect(ready?.status, `${name}: ${ready?.message}\n${logs()}`).toBe("True");
        },
        { timeout: 120_000, interval: 500 },
      );
    }
    const secret = await adminClients().core.readNamespacedSecret({ name: `${fullname}-tls`, namespace });
    const pem = (key: string): string => Buffer.from(secret.data?.[key] ?? "", "base64").toString("utf8");
    const ca = new X509Certificate(pem("ca.crt"));
    const serving = new X509Certificate(pem("tls.crt"));
    expect(ca.ca).toBe(true);
    expect(serving.checkIssued(ca)).toBe(true);
    expect(serving.subjectAltName).toContain(`DNS:${fullname}.${namespace}.svc`);
    certDir = mkdtempSync(join(tmpdir(), "prepull-chart-tls-"));
    for (const key of ["tls.crt", "tls.key", "ca.crt"]) writeFileSync(join(certDir, key), pem(key));
  });

  it("cainjector puts that CA into the webhook configuration's caBundle", async () => {
    const ca = readFileSync(join(certDir, "ca.crt"), "utf8");
    await vi.waitFor(
      async () => {
        const config = await adminClients().admission.readMutatingWebhookConfiguration({ name: fullname });
        const caBundle = config.webhooks?.[0]?.clientConfig.caBundle ?? "";
        expect(Buffer.from(caBundle, "base64").toString("utf8"), logs()).toBe(ca);
      },
      { timeout: 60_000, interval: 500 },
    );
  });

  it("the scheduler spreads the two replicas over nodes and the PodDisruptionBudget covers them", async () => {
    const { core, kubeConfig } = adminClients();
    const policy = kubeConfig.makeApiClient(PolicyV1Api);
    const selector = `app.kubernetes.io/instance=${release},app.kubernetes.io/component=webhook`;
    // kwok plays the kubelet: scheduled pods run without containers, so this judges the pod spec
    // (node selector, affinity, spread, Secret volume) as the scheduler and controllers see it.
    await vi.waitFor(
      async () => {
        const pods = await core.listNamespacedPod({ namespace, labelSelector: selector });
        const nodes = pods.items.map((p) => p.spec?.nodeName).filter((n) => n !== undefined);
        expect(nodes).toHaveLength(2);
        expect(new Set(nodes).size).toBe(2);
      },
      { timeout: 60_000, interval: 500 },
    );
    await vi.waitFor(
      async () => {
        const pdb = await policy.readNamespacedPodDisruptionBudget({ name: fullname, namespace });
        expect(pdb.status?.expectedPods).toBe(2);
      },
      { timeout: 60_000, interval: 500 },
    );
  });

  // Needs the real node's bridge address (see above); skipped only when a person turned the node off.
  it.skipIf(realNodeTurnedOff)(
    "the apiserver calls prepull through the chart's webhook configuration and applies its patch",
    async () => {
      const { core, apps } = adminClients();
      // The one substitution: the chart's Service selects the kwok pods (addresses nothing listens
      // on), so it is replaced by one of the same name whose only endpoint is this host's address on
      // the real node's bridge, where the real prepull server listens. The apiserver calls a
      // webhook at a ready endpoint of its Service (--enable-aggregator-routing); endpoints may not
      // be loopback addresses, hence the bridge's.
      const listenOn = realNode().apiserverForPods.host;
      await core.deleteNamespacedService({ name: fullname, namespace });
      await core.createNamespacedService({
        namespace,
        body: { metadata: { name: fullname }, spec: { ports: [{ name: "https", port, targetPort: port }] } },
      });
      await adminClients()
        .kubeConfig.makeApiClient(DiscoveryV1Api)
        .createNamespacedEndpointSlice({
          namespace,
          body: {
            metadata: { name: fullname, labels: { "kubernetes.io/service-name": fullname } },
            addressType: "IPv4",
            endpoints: [{ addresses: [listenOn], conditions: { ready: true } }],
            ports: [{ name: "https", port, protocol: "TCP" }],
          },
        });
      prepull = run(process.execPath, [join(repoRoot, "src/main.ts")], {
        PATH: process.env.PATH ?? "",
        HOST: listenOn,
        PORT: String(port),
        // /metrics on a port of its own choosing: a fixed one could be taken on a shared machine.
        METRICS_PORT: "0",
        TLS_CERT_FILE: join(certDir, "tls.crt"),
        TLS_KEY_FILE: join(certDir, "tls.key"),
        POD_NAMESPACE: namespace,
        LOG_LEVEL: "info",
      });
      const ca = readFileSync(join(certDir, "ca.crt"), "utf8");
      const host = `${fullname}.${namespace}.svc`;
      await vi.waitFor(
        async () => expect(await httpsGet(listenOn, port, "/readyz", ca, host), logs()).toBe(200),
        {
          timeout: 30_000,
          interval: 200,
        },
      );

      // The plane is shared (other webhooks, such as a running demo's, may patch the same objects),
      // so what counts is what this prepull answered: the admissions it logged, by namespace/name.
      const answered = (): string[] =>
        (prepull?.output() ?? "")
          .split("\n")
          .filter((line) => line.startsWith("{"))
          .map(
            (line) =>
              JSON.parse(line) as { msg?: string; namespace?: string; name?: string; dryRun?: boolean },
          )
          .filter((entry) => entry.msg === "admission")
          .map((entry) => `${entry.namespace}/${entry.name}${entry.dryRun ? " (dry run)" : ""}`);
      const prepullKeys = (annotations: Record<string, string> | undefined): string[] =>
        Object.keys(annotations ?? {}).filter((k) => k.startsWith("prepull.dev/"));

      // The apiserver picks up webhook configurations and Services through watches: dry runs (no
      // trace) until this prepull has answered one and its patch shows up in the answer.
      await vi.waitFor(
        async () => {
          const answer = await apps.createNamespacedDeployment({
            namespace: appNamespace,
            body: deployment({ name: "probe", optedIn: true }),
            dryRun: "All",
          });
          expect(answered(), logs()).toContain(`${appNamespace}/probe (dry run)`);
          expect(prepullKeys(answer.metadata?.annotations)).not.toEqual([]);
        },
        { timeout: 60_000, interval: 500 },
      );

      const create = (ns: string, name: string, optedIn: boolean) =>
        apps.createNamespacedDeployment({ namespace: ns, body: deployment({ name, optedIn }) });
      await create(appNamespace, "opted-in", true);
      await create(appNamespace, "plain", false);
      await create(namespace, "in-release-ns", true);
      // Admissions are answered in order of these sequential creates: once "marker" is logged, any
      // call for the two above would have been logged before it.
      await create(appNamespace, "marker", true);
      await vi.waitFor(() => expect(answered()).toContain(`${appNamespace}/marker`), { timeout: 10_000 });

      expect(answered()).toContain(`${appNamespace}/opted-in`);
      const stored = await apps.readNamespacedDeployment({ namespace: appNamespace, name: "opted-in" });
      expect(prepullKeys(stored.metadata?.annotations)).not.toEqual([]);
      // matchConditions kept the unannotated one from prepull; the namespaceSelector, the release
      // namespace.
      expect(answered()).not.toContain(`${appNamespace}/plain`);
      expect(answered()).not.toContain(`${namespace}/in-release-ns`);
    },
  );
});
