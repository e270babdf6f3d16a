import { describe, expect, it } from "vitest";
import { withReason } from "../../src/core/notes.ts";
import { SUMMARY_LENGTH_MAX, type WorkloadStatus } from "../../src/core/status.ts";

const status = (summary: string): WorkloadStatus => ({
  workload: { kind: "Deployment", namespace: "ml", name: "w" },
  id: "Deployment/ml/w",
  images: [],
  readyNodes: 3,
  eligibleNodes: 3,
  summary,
  sleeperFailing: [],
});

describe("withReason", () => {
  it.each([
    ["annotation", "3/3 nodes ready", "3/3 nodes ready"],
    ["namespace", "3/3 nodes ready", "3/3 nodes ready (via namespace)"],
    ["cluster default", "2 images: 1/3 nodes ready", "2 images: 1/3 nodes ready (via cluster default)"],
  ] as const)("%s", (reason, summary, expected) => {
    expect(withReason(status(summary), reason).summary).toBe(expected);
  });

  it("keeps the suffix within the annotation's length limit", () => {
    const text = withReason(status("x".repeat(SUMMARY_LENGTH_MAX)), "namespace").summary;
    expect(text).toHaveLength(SUMMARY_LENGTH_MAX);
    expect(text.endsWith("… (via namespace)")).toBe(true);
  });
});
