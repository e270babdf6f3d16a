// Pepr (npm) as a peer: placeholder until its module is built.
import type { BenchCertificates } from "../support/certs.ts";
import type { Skipped } from "../support/report.ts";
import type { ServerSpec } from "../support/servers.ts";

export async function peprPeer(
  _repo: string,
  _work: string,
  _certs: BenchCertificates,
  plane: boolean,
): Promise<{ spec: ServerSpec } | { skipped: Skipped }> {
  return { skipped: { what: "Pepr", why: plane ? "not wired yet" : "needs --plane" } };
}
