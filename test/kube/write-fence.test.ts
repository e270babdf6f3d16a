// The write fence against a real loopback HTTP server: a write whose leadership check passed in
// our code, and that is still on its way to the socket when leadership ends, never reaches the
// server (the frozen-leader fault: test/e2e/faults-freeze.test.ts). Reads and unfenced clients
// pass. Then the interceptor alone, against a recording dispatch: what it hands undici.
import { createServer, type IncomingMessage, type Server } from "node:http";
import { createSecureServer, type Http2SecureServer } from "node:http2";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import type { Dispatcher } from "undici";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { createKubeRest } from "../../src/kube/rest.ts";
import { NotLeaderError, writeFence } from "../../src/kube/write-fence.ts";
import { makeTempDir } from "../support/temp-dir.ts";
import { createCertificateAuthority, issueServingCertificate } from "../support/tls.ts";

let server: Server;
let received: string[];
let kubeConfig: KubeConfig;

beforeAll(async () => {
  server = createServer((request: IncomingMessage, response) => {
    received.push(`${request.method} ${request.url}`);
    request.resume();
    request.on("end", () => {
      response.setHeader("content-type", "application/json");
      response.end(JSON.stringify({ kind: "ConfigMap", metadata: { name: "x" } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: "local", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: "me", token: "t" }],
    contexts: [{ name: "local", cluster: "local", user: "me" }],
    currentContext: "local",
  });
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  received = [];
});

const PATH = "/api/v1/namespaces/ns/configmaps/x";

describe("a client with a write fence", () => {
  it("sends writes while the fence holds", async () => {
    const rest = createKubeRest(kubeConfig, { mayWrite: () => true });
    await rest.mergePatch(PATH, { data: { a: "1" } });
    await rest.delete(PATH);
    expect(received).toEqual([`PATCH ${PATH}`, `DELETE ${PATH}`]);
  });

  it("refuses a write that passed every check above it but not the fence at the socket", async () => {
    let leading = true;
    const rest = createKubeRest(kubeConfig, { mayWrite: () => leading });
    // The caller checked leadership (it was true) and issued the write; leadership ends before the
    // request reaches the connection (the process was frozen in between).
    const write = rest.mergePatch(PATH, { data: { a: "1" } });
    leading = false;
    await expect(write).rejects.toBeInstanceOf(NotLeaderError);
    for (const refused of [
      () => rest.create("/api/v1/namespaces/ns/configmaps", {}),
      () => rest.replace(PATH, {}),
      () => rest.apply(PATH, {}, "prepull"),
      () => rest.delete(PATH),
    ]) {
      await expect(refused()).rejects.toBeInstanceOf(NotLeaderError);
    }
    expect(received).toEqual([]);
    // Reads are never fenced.
    await rest.get(PATH);
    expect(received).toEqual([`GET ${PATH}`]);
    // Leading again (a new term), writes go out on the same pool.
    leading = true;
    await rest.mergePatch(PATH, { data: { a: "2" } });
    expect(received).toEqual([`GET ${PATH}`, `PATCH ${PATH}`]);
  });

  it("still sends a body-less write, decided at the start check alone", async () => {
    let asked = 0;
    const rest = createKubeRest(kubeConfig, { mayWrite: () => ++asked === 1 });
    await rest.delete(PATH);
    expect(asked).toBe(1);
    expect(received).toEqual([`DELETE ${PATH}`]);
  });

  it("fences only its own client: the Lease's client writes whatever the fence says", async () => {
    const fencedRest = createKubeRest(kubeConfig, { mayWrite: () => false });
    const leaseRest = createKubeRest(kubeConfig);
    await expect(fencedRest.replace(PATH, {})).rejects.toBeInstanceOf(NotLeaderError);
    await leaseRest.replace(PATH, {});
    expect(received).toEqual([`PUT ${PATH}`]);
  });
});

// fetch hands undici every body as a stream, and undici writes the request line and headers only
// with the stream's first chunk, microtasks after onRequestStart: a freeze in that gap sent the write
// on resume (headers, then an empty or cut body: the apiserver answered 500 or 504). The fence must
// hand undici one buffer, which undici writes in the same call that asked onRequestStart.
describe("the write fence as an interceptor", () => {
  async function* chunks(...parts: string[]): AsyncGenerator<Buffer> {
    for (const part of parts) {
      await Promise.resolve();
      yield Buffer.from(part);
    }
  }
  const noHandler: Dispatcher.DispatchHandler = {};

  function dispatched(mayWrite: () => boolean) {
    const seen: Dispatcher.DispatchOptions[] = [];
    const dispatch = writeFence(mayWrite)((options) => {
      seen.push(options);
      return true;
    });
    return { seen, dispatch };
  }

  it("hands on a streamed write body as one buffer holding every chunk", async () => {
    const { seen, dispatch } = dispatched(() => true);
    dispatch(
      { method: "PATCH", path: PATH, origin: "http://x", body: chunks('{"a":', '"1"}') as never },
      noHandler,
    );
    await vi.waitFor(() => expect(seen).toHaveLength(1));
    expect(Buffer.isBuffer(seen[0]?.body)).toBe(true);
    expect(String(seen[0]?.body)).toBe('{"a":"1"}');
  });

  it("leaves reads and ready-made bodies as they are", () => {
    const { seen, dispatch } = dispatched(() => true);
    const stream = chunks("never read");
    dispatch({ method: "GET", path: PATH, origin: "http://x", body: stream as never }, noHandler);
    dispatch({ method: "PUT", path: PATH, origin: "http://x", body: "{}" }, noHandler);
    expect(seen.map((o) => o.body)).toEqual([stream, "{}"]);
  });

  it("fails the request when its body cannot be read, and never dispatches it", async () => {
    const { seen, dispatch } = dispatched(() => true);
    const errors: Error[] = [];
    async function* broken(): AsyncGenerator<Buffer> {
      yield Buffer.from("{");
      throw new Error("body stream broke");
    }
    dispatch(
      { method: "POST", path: PATH, origin: "http://x", body: broken() as never },
      { onResponseError: (_controller, error) => errors.push(error) },
    );
    await vi.waitFor(() => expect(errors.map((e) => e.message)).toEqual(["body stream broke"]));
    expect(seen).toEqual([]);
  });
});

// Over HTTP/2 (which undici offers and the apiserver picks) node:http2 writes a request's frames
// later in the event loop, not when undici starts it: a freeze in between sent the write on resume.
describe("the fenced client's protocol", () => {
  let secure: Http2SecureServer;
  let tlsConfig: KubeConfig;
  const versions: string[] = [];

  beforeAll(async () => {
    const dir = makeTempDir("write-fence-tls-");
    const ca = await createCertificateAuthority(dir, "write-fence-ca");
    const serving = await issueServingCertificate(ca, dir, "server");
    secure = createSecureServer(
      { key: serving.keyPem, cert: serving.certPem, allowHTTP1: true },
      (request, response) => {
        versions.push(`${request.method} ${request.httpVersion}`);
        request.resume();
        request.on("end", () => {
          response.setHeader("content-type", "application/json");
          response.end("{}");
        });
      },
    );
    await new Promise<void>((resolve) => secure.listen(0, "127.0.0.1", resolve));
    const { port } = secure.address() as AddressInfo;
    tlsConfig = new KubeConfig();
    tlsConfig.loadFromOptions({
      clusters: [
        {
          name: "tls",
          server: `https://127.0.0.1:${port}`,
          caData: Buffer.from(ca.certPem).toString("base64"),
        },
      ],
      users: [{ name: "me", token: "t" }],
      contexts: [{ name: "tls", cluster: "tls", user: "me" }],
      currentContext: "tls",
    });
  });

  afterAll(async () => {
    await new Promise((resolve) => secure.close(resolve));
  });

  it("speaks HTTP/1.1 when fenced, so a write leaves in the call that checked the fence", async () => {
    versions.length = 0;
    const fenced = createKubeRest(tlsConfig, { mayWrite: () => true });
    await fenced.mergePatch(PATH, { data: { a: "1" } });
    await fenced.get(PATH);
    // The Lease's client is left to undici's default, which this server (like the apiserver) answers in HTTP/2.
    await createKubeRest(tlsConfig).get(PATH);
    expect(versions).toEqual(["PATCH 1.1", "GET 1.1", "GET 2.0"]);
  });
});
