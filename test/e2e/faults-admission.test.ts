// prepull SIGKILLed in the middle of admission traffic, then a new instance started: the webhook
// is fail-open (failurePolicy Ignore), so not one create fails; the workloads admitted while it was
// down (created without prepull's annotation) are found by the new instance's reconciler. Ends
// with the exact state (DaemonSet images, every workload's status) and the time to converge.
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, expect, test } from "vitest";
import { waitFor } from "../../bench/reconcile-harness.ts";
import { CHURN_NODE_SELECTOR, churnImage } from "../../scripts/faults/churn.ts";
import { recordResult } from "../../scripts/faults/results.ts";
import { TRACKED_IMAGES_ANNOTATION } from "../../src/core/mutate.ts";
import { adminClients } from "./support/cluster.ts";
import { expectConverged, scopeOf } from "./support/faults.ts";
import { createNamespace, deleteNamespace, withNamespace } from "./support/namespace.ts";
import { type RunningPrepull, startPrepull } from "./support/prepull.ts";
import { registerWebhook, type WebhookRegistration } from "./support/register-webhook.ts";
import { deployment } from "./support/workloads.ts";

const CREATES = 90;
const KILL_AT = 30;
const RESTART_AT = 60;
/** A steady stream, as a deploy pipeline sends it. */
const CREATE_INTERVAL_MS = 100;

let releaseNamespace: string;
const running: RunningPrepull[] = [];
const registrations: WebhookRegistration[] = [];

beforeAll(async () => {
  releaseNamespace = await createNamespace("prepull-admfaults");
});

afterAll(async () => {
  for (const registration of registrations) await registration.remove();
  await Promise.all(running.map((p) => p.stop()));
  if (releaseNamespace) await deleteNamespace(releaseNamespace);
});

async function start(namespace: string): Promise<RunningPrepull> {
  const prepull = await startPrepull({ namespace: releaseNamespace, reconciler: true });
  running.push(prepull);
  registrations.push(
    await registerWebhook({ target: prepull, probeNamespace: namespace, onlyNamespaces: [namespace] }),
  );
  return prepull;
}

test(`prepull SIGKILLed during ${CREATES} creates: no create fails, the missed ones are reconciled`, async () => {
  const namespace = await withNamespace("admfault");
  const first = await start(namespace);

  const outcomes: ("patched" | "missed" | "failed")[] = [];
  let second: Promise<RunningPrepull> | undefined;
  for (let i = 0; i < CREATES; i++) {
    if (i === KILL_AT) {
      first.kill("SIGKILL");
      await first.exited;
    }
    if (i === RESTART_AT) second = start(namespace);
    const name = `w-${i}`;
    try {
      const created = await adminClients().apps.createNamespacedDeployment({
        namespace,
        body: deployment({
          name,
          optedIn: true,
          image: churnImage(namespace, name, 1),
          replicas: 0,
          nodeSelector: { ...CHURN_NODE_SELECTOR },
        }),
      });
      outcomes.push(
        created.metadata?.annotations?.[TRACKED_IMAGES_ANNOTATION] === undefined ? "missed" : "patched",
      );
    } catch (error) {
      outcomes.push("failed");
      console.error(`create ${name} failed: ${String(error)}`);
    }
    await sleep(CREATE_INTERVAL_MS);
  }
  await second;
  const lastCreate = performance.now();

  const count = (what: string) => outcomes.filter((o) => o === what).length;
  expect(count("failed")).toBe(0);
  // The fault was real: before the kill prepull answered (a slow answer past the webhook's 3 s
  // timeout would be a fail-open too, so not every one is required), after it creates went
  // through without prepull.
  expect(outcomes.slice(0, KILL_AT).filter((o) => o === "patched").length).toBeGreaterThan(0);
  expect(outcomes.slice(KILL_AT, RESTART_AT).every((o) => o === "missed")).toBe(true);

  const converged = await expectConverged(scopeOf(namespace, releaseNamespace));
  expect(converged.state.workloads).toHaveLength(CREATES);
  // The missed ones also got prepull's annotation once the new instance admitted their status update.
  await waitFor("every workload to carry prepull's image annotation", async () => {
    const list = await adminClients().apps.listNamespacedDeployment({ namespace });
    return list.items.every((d) => d.metadata?.annotations?.[TRACKED_IMAGES_ANNOTATION] !== undefined)
      ? true
      : undefined;
  });
  await recordResult({
    fault: "prepull-killed-during-admission",
    convergeMs: Math.round(performance.now() - lastCreate),
    lost: [],
    detail: { creates: CREATES, failed: count("failed"), admittedWithoutPrepull: count("missed") },
  });
});
