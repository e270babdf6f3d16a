// A fresh namespace per test, deleted when the test finishes (pass or fail), so tests never see
// each other's objects. Deletion is not awaited to completion: the namespace controller finishes
// it in the background while the next test runs in its own namespace.
import { randomBytes } from "node:crypto";
import { onTestFinished } from "vitest";
import { isApiStatus } from "../../../scripts/cluster/kube-client.ts";
import { adminClients } from "./cluster.ts";

const E2E_LABEL = "prepull.dev/e2e";

/** Creates `<prefix>-<random>`; pair with deleteNamespace (withNamespace does both for a test). */
export async function createNamespace(prefix = "e2e"): Promise<string> {
  const name = `${prefix}-${randomBytes(4).toString("hex")}`;
  await adminClients().core.createNamespace({
    body: { metadata: { name, labels: { [E2E_LABEL]: "true" } } },
  });
  return name;
}

export async function deleteNamespace(name: string): Promise<void> {
  try {
    await adminClients().core.deleteNamespace({ name });
  } catch (error) {
    if (!isApiStatus(error, 404)) throw error;
  }
}

/** A namespace for the current test, deleted when it finishes. */
export async function withNamespace(prefix = "e2e"): Promise<string> {
  const name = await createNamespace(prefix);
  onTestFinished(() => deleteNamespace(name));
  return name;
}
