// The write fence against a real loopback HTTP server: a write whose leadership check passed in
// our code, and that is still on its way to the socket when leadership ends, never reaches the
// server (the frozen-leader fault: test/e2e/faults-freeze.known-failure.ts). Reads and unfenced
// clients pass.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createKubeRest } from "../../src/kube/rest.ts";
import { NotLeaderError } from "../../src/kube/write-fence.ts";

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

  it("refuses a write whose leadership ends between the request's start and its body", async () => {
    // fetch streams the body: undici writes the request with its first chunk, after the start
    // check. The first question is onRequestStart's; leadership is gone by the second.
    let asked = 0;
    const rest = createKubeRest(kubeConfig, { mayWrite: () => ++asked === 1 });
    await expect(rest.mergePatch(PATH, { data: { a: "1" } })).rejects.toBeInstanceOf(NotLeaderError);
    expect(asked).toBeGreaterThanOrEqual(2);
    expect(received).toEqual([]);
    // A body-less write has nothing to stream: the start check is the last one, and it holds.
    asked = 0;
    await rest.delete(PATH);
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
