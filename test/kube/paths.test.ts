// Every REST path prepull uses, as the apiserver spells it: core group under /api/v1, named groups
// under /apis/<group>/<version>, namespaced collections under namespaces/<ns>, segments encoded.
import { describe, expect, it } from "vitest";
import { collectionPath, objectPath, type ResourceKind } from "../../src/kube/paths.ts";

describe("collectionPath", () => {
  it.each<[ResourceKind, string | undefined, string]>([
    ["Deployment", undefined, "/apis/apps/v1/deployments"],
    ["StatefulSet", undefined, "/apis/apps/v1/statefulsets"],
    ["Job", undefined, "/apis/batch/v1/jobs"],
    ["CronJob", undefined, "/apis/batch/v1/cronjobs"],
    ["DaemonSet", "prepull", "/apis/apps/v1/namespaces/prepull/daemonsets"],
    ["Pod", "prepull", "/api/v1/namespaces/prepull/pods"],
    ["Secret", "prepull", "/api/v1/namespaces/prepull/secrets"],
    ["Event", "default", "/api/v1/namespaces/default/events"],
    ["Lease", "prepull", "/apis/coordination.k8s.io/v1/namespaces/prepull/leases"],
    ["ServiceAccount", undefined, "/api/v1/serviceaccounts"],
    ["Node", undefined, "/api/v1/nodes"],
    ["Namespace", undefined, "/api/v1/namespaces"],
    ["RuntimeClass", undefined, "/apis/node.k8s.io/v1/runtimeclasses"],
    ["TokenReview", undefined, "/apis/authentication.k8s.io/v1/tokenreviews"],
    ["SubjectAccessReview", undefined, "/apis/authorization.k8s.io/v1/subjectaccessreviews"],
  ])("%s in %s: %s", (kind, namespace, path) => {
    expect(collectionPath(kind, namespace)).toBe(path);
  });
});

describe("objectPath", () => {
  it.each<[ResourceKind, string | undefined, string, string]>([
    ["Deployment", "team-a", "web", "/apis/apps/v1/namespaces/team-a/deployments/web"],
    ["CronJob", "team-a", "nightly", "/apis/batch/v1/namespaces/team-a/cronjobs/nightly"],
    ["Secret", "team-a", "regcred", "/api/v1/namespaces/team-a/secrets/regcred"],
    [
      "Lease",
      "prepull",
      "prepull-reconciler",
      "/apis/coordination.k8s.io/v1/namespaces/prepull/leases/prepull-reconciler",
    ],
    ["Node", undefined, "worker-1", "/api/v1/nodes/worker-1"],
    // Names are path segments: whatever they hold cannot reach another path.
    ["Node", undefined, "a/b?c", "/api/v1/nodes/a%2Fb%3Fc"],
    ["Secret", "odd ns", "x", "/api/v1/namespaces/odd%20ns/secrets/x"],
  ])("%s %s/%s: %s", (kind, namespace, name, path) => {
    expect(objectPath(kind, namespace, name)).toBe(path);
  });
});
