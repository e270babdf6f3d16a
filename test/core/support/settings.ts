// The settings the desired-state table tests build DaemonSets with.
import type { PrepullSettings } from "../../../src/core/daemonset.ts";

export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export const settings: PrepullSettings = {
  namespace: "prepull-system",
  releaseName: "prepull",
  sleeperImage: "ghcr.io/example/prepull:0.1.0",
  sleeperPath: "/usr/local/bin/prepull-sleep",
  maxUnavailable: "100%",
  maxImagesPerDaemonSet: 0,
  mirrorPullSecrets: false,
  resources: { cpu: "100m", memory: "32Mi" },
  podRequests: { cpu: "1m", memory: "16Mi" },
};
