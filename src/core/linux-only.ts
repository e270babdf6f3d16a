// Whether a workload can run on Linux nodes at all. The pre-pull pods run prepull's sleeper, a
// Linux executable, so they can only pre-pull on Linux nodes. A workload pinned elsewhere
// (kubernetes.io/os=windows, the label every kubelet sets on its Node) gets no DaemonSet: one
// copying its OS constraint would never start its sleeper, and one adding os=linux to it would
// match no node. It is told so in its status instead.
import type { Placement } from "./placement.ts";

const OS_LABEL = "kubernetes.io/os";
const LINUX = "linux";

/** Why the placement rules out every Linux node, or undefined when a Linux node may match. */
export function nonLinuxReason(placement: Placement): string | undefined {
  const os = placement.nodeSelector[OS_LABEL];
  if (os !== undefined && os !== LINUX)
    return `pinned to ${OS_LABEL}=${os} nodes; prepull pre-pulls on Linux nodes only`;
  const terms = placement.nodeSelectorTerms;
  // Required terms are ORed: Linux is ruled out only when every term rules it out.
  if (terms.length > 0 && terms.every((term) => term.matchExpressions.some(excludesLinux))) {
    return `its required node affinity rules out ${OS_LABEL}=${LINUX}; prepull pre-pulls on Linux nodes only`;
  }
  return undefined;
}

function excludesLinux(requirement: { key: string; operator: string; values: readonly string[] }): boolean {
  if (requirement.key !== OS_LABEL) return false;
  switch (requirement.operator) {
    case "In":
      return !requirement.values.includes(LINUX);
    case "NotIn":
      return requirement.values.includes(LINUX);
    case "DoesNotExist":
      return true;
    default:
      return false;
  }
}
