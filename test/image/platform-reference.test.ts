// Where each platform's image is pushed besides the index: the tag with the platform appended.
import { describe, expect, it } from "vitest";
import { platformReference, sleeperBinaries } from "../../scripts/image/build-image.ts";

describe("platformReference", () => {
  it.each([
    ["127.0.0.1:5000/prepull/prepull:dev", "amd64", "127.0.0.1:5000/prepull/prepull:dev-linux-amd64"],
    ["127.0.0.1:5000/prepull/prepull:dev", "arm64", "127.0.0.1:5000/prepull/prepull:dev-linux-arm64"],
    ["127.0.0.1:5000/prepull/prepull", "arm64", "127.0.0.1:5000/prepull/prepull:linux-arm64"],
    ["ghcr.io/prepull/prepull:0.1.0", "amd64", "ghcr.io/prepull/prepull:0.1.0-linux-amd64"],
  ] as const)("%s for %s is %s", (target, arch, expected) => {
    expect(platformReference(target, arch)).toBe(expected);
  });
});

describe("sleeperBinaries", () => {
  it("names the cross-compiled sleepers scripts/build-kube.sh writes", () => {
    expect(sleeperBinaries("/cache/bin")).toEqual({
      amd64: "/cache/bin/prepull-sleep-linux-amd64",
      arm64: "/cache/bin/prepull-sleep-linux-arm64",
    });
  });
});
