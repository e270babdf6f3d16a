// The apiserver as pods on the real node reach it. The apiserver listens on loopback only, which
// a pod's network namespace cannot reach, so the `kubernetes` Service has no endpoints for the
// node's kube-proxy to route its cluster IP to. This forwards the bridge's own address (the
// host's side of the pods' subnet, see layout.ts) to the apiserver's loopback port, byte for
// byte: TLS is end to end, and the apiserver's certificate carries the bridge address, so an
// in-cluster client pointed at it (KUBERNETES_SERVICE_HOST/PORT) verifies the apiserver as usual.
//
//   node scripts/cluster/real-node/apiserver-forward.ts --listen HOST:PORT --target PORT --plane DIR
//
// `--plane` only marks the process as this plane's, so `cluster:down` finds and stops it.
import { connect, createServer, type Socket } from "node:net";
import { parseArgs } from "node:util";

function hostPort(value: string | undefined): { host: string; port: number } {
  const match = /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(value ?? "");
  const port = Number(match?.[2]);
  if (!match?.[1] || !Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`--listen must be IPv4:port, got "${value}"`);
  return { host: match[1], port };
}

function main(): void {
  const { values } = parseArgs({
    options: { listen: { type: "string" }, target: { type: "string" }, plane: { type: "string" } },
  });
  const listen = hostPort(values.listen);
  const target = Number(values.target);
  if (!Number.isInteger(target) || target < 1 || target > 65535)
    throw new Error(`--target must be a port, got "${values.target}"`);
  const server = createServer((client: Socket) => {
    const upstream = connect(target, "127.0.0.1");
    const closeBoth = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", closeBoth);
    upstream.on("error", closeBoth);
    client.on("close", closeBoth);
    upstream.on("close", closeBoth);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.listen(listen.port, listen.host, () => {
    console.log(`apiserver-forward: ${listen.host}:${listen.port} -> 127.0.0.1:${target}`);
  });
  for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => process.exit(0));
}

if (import.meta.main) main();
