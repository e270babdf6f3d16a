import { describe, expect, it } from "vitest";
import type { ReconcileRequest } from "../../src/core/handoff.ts";
import { RecordingQueue } from "../../src/reconcile/queue.ts";

const request = (name: string): ReconcileRequest => ({
  kind: "Deployment",
  namespace: "ns",
  name,
  operation: "CREATE",
});

describe("RecordingQueue", () => {
  it("records copies of what admission handed over, in order", () => {
    const queue = new RecordingQueue();
    const first = request("a");
    queue.enqueue(first);
    queue.enqueue(request("b"));
    first.name = "changed";
    expect(queue.received.map((r) => r.name)).toEqual(["a", "b"]);
    expect(queue.depth()).toBe(2);
  });

  it("keeps only the most recent `limit` requests", () => {
    const queue = new RecordingQueue(3);
    for (const name of ["a", "b", "c", "d", "e"]) queue.enqueue(request(name));
    expect(queue.received.map((r) => r.name)).toEqual(["c", "d", "e"]);
    expect(queue.depth()).toBe(3);
  });

  it.each([0, -1, 1.5])("rejects the limit %s", (limit) => {
    expect(() => new RecordingQueue(limit)).toThrow(RangeError);
  });
});
