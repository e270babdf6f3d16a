// Splits a V8 CPU profile (node --cpu-prof) of a server under load into the phases of one
// admission, so a change can be judged by where the CPU goes rather than by one throughput
// figure. Each sample goes to the innermost frame that names a phase of prepull's own work
// (logging, metrics, depth scan, JSON.parse, …); a sample with none of those goes to the
// innermost generic layer (fastify, node's HTTP, TLS and sockets), then to "other".
interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

export interface CpuProfile {
  nodes: CpuProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

interface Rule {
  phase: string;
  matches(functionName: string, url: string): boolean;
}

const under = (fragment: string) => (_name: string, url: string) => url.includes(fragment);
const named =
  (...names: string[]) =>
  (name: string) =>
    names.includes(name);

/** prepull's own phases, most specific first within a frame. */
const SPECIFIC: Rule[] = [
  { phase: "logging", matches: (_n, url) => /\/(pino|sonic-boom|fast-redact|on-exit-leak-free)\//.test(url) },
  { phase: "metrics", matches: under("/prom-client/") },
  { phase: "depth scan", matches: named("nestingDepth", "scanDepth") },
  {
    phase: "JSON.parse",
    matches: (name, url) =>
      name === "parseJsonBody" || url.includes("/secure-json-parse/") || (name === "parse" && url === ""),
  },
  {
    phase: "decode",
    matches: (name, url) => url.endsWith("core/admission.ts") && !["review", "reviewFor"].includes(name),
  },
  {
    phase: "hashing",
    matches: (name, url) => name === "imageSetDigest" || url.includes("internal/crypto/hash"),
  },
  {
    phase: "image normalisation",
    matches: (_name, url) => url.endsWith("core/images.ts"),
  },
  { phase: "patch", matches: under("core/patch.ts") },
  { phase: "response build (base64)", matches: named("review", "reviewFor", "reviewBody") },
  { phase: "decision (mutate, workload)", matches: (_n, url) => /core\/(mutate|workload)\.ts$/.test(url) },
  { phase: "reconcile hand-off", matches: under("/reconcile/") },
  {
    phase: "response serialisation",
    matches: (name, url) =>
      url.includes("fast-json-stringify") ||
      (url.includes("fastify/lib/reply.js") && name === "serialize") ||
      (name === "stringify" && url === ""),
  },
  {
    phase: "body read",
    matches: (_n, url) => url.includes("fastify/lib/content-type-parser.js") || url.includes("raw-body"),
  },
  { phase: "mutate route (own code)", matches: under("src/http/") },
];

/** Layers every HTTPS server pays, the bare control included. */
const GENERIC: Rule[] = [
  {
    phase: "fastify (routing, hooks, reply)",
    matches: (_n, url) =>
      /\/(fastify|find-my-way|avvio|@fastify|fastq|toad-cache|abstract-logging)\//.test(url),
  },
  { phase: "node http (parser, headers)", matches: (_n, url) => url.startsWith("node:_http") },
  {
    phase: "TLS and socket I/O",
    matches: (name, url) =>
      url.startsWith("node:_tls") ||
      url.startsWith("node:net") ||
      url.includes("stream_base_commons") ||
      url.includes("internal/streams") ||
      ["writeUtf8String", "writeString", "writev", "writeBuffer", "read"].includes(name),
  },
  {
    phase: "start-up (module loading)",
    matches: (_n, url) => url.includes("internal/modules") || url.includes("internal/deps/amaro"),
  },
];

const SYSTEM = new Map([
  ["(garbage collector)", "garbage collection"],
  ["(program)", "native (V8/libuv/OpenSSL outside JS)"],
  ["(idle)", "idle"],
]);

export interface PhaseTimes {
  /** phase → microseconds of CPU */
  micros: Map<string, number>;
  busyMicros: number;
}

export function phaseTimes(profile: CpuProfile): PhaseTimes {
  const byId = new Map<number, CpuProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const phaseOfNode = new Map<number, string>();
  const phaseOf = (leaf: number): string => {
    const cached = phaseOfNode.get(leaf);
    if (cached !== undefined) return cached;
    const leafName = byId.get(leaf)?.callFrame.functionName ?? "";
    let generic: string | undefined;
    let found = SYSTEM.get(leafName);
    for (let id: number | undefined = leaf; found === undefined && id !== undefined; id = parent.get(id)) {
      const { functionName, url } = byId.get(id)?.callFrame ?? { functionName: "", url: "" };
      found = SPECIFIC.find((rule) => rule.matches(functionName, url))?.phase;
      generic ??= GENERIC.find((rule) => rule.matches(functionName, url))?.phase;
    }
    const phase = found ?? generic ?? "other";
    phaseOfNode.set(leaf, phase);
    return phase;
  };
  const micros = new Map<string, number>();
  let busyMicros = 0;
  profile.samples.forEach((id, index) => {
    const delta = profile.timeDeltas[index] ?? 0;
    const phase = phaseOf(id);
    micros.set(phase, (micros.get(phase) ?? 0) + delta);
    if (phase !== "idle" && phase !== "start-up (module loading)") busyMicros += delta;
  });
  return { micros, busyMicros };
}
