// Is a bearer token allowed to `get` a non-resource URL? Asked of the apiserver, as
// controller-runtime's secure metrics serving (WithAuthenticationAndAuthorization) does: a
// TokenReview says who holds the token, a SubjectAccessReview whether that user may get the
// path. RBAC grants it with a ClusterRole rule `nonResourceURLs: ["/metrics"], verbs: ["get"]`.
// prepull itself needs `create` on tokenreviews and subjectaccessreviews.

import { isJsonObject } from "../core/workload.ts";
import { collectionPath } from "./paths.ts";
import type { KubeRest } from "./rest.ts";

/** The same union as the http layer's AccessDecision; main hands this function to it. */
export type AccessDecision = "allowed" | "unauthenticated" | "forbidden";

export function nonResourceAccessReview(
  rest: KubeRest,
  path: string,
  verb = "get",
): (token: string) => Promise<AccessDecision> {
  return async (token) => {
    const review = await rest.create(collectionPath("TokenReview"), {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenReview",
      spec: { token },
    });
    const status = isJsonObject(review.status) ? review.status : {};
    const user = isJsonObject(status.user) ? status.user : {};
    if (status.authenticated !== true || typeof user.username !== "string") return "unauthenticated";
    const access = await rest.create(collectionPath("SubjectAccessReview"), {
      apiVersion: "authorization.k8s.io/v1",
      kind: "SubjectAccessReview",
      spec: {
        user: user.username,
        ...(typeof user.uid === "string" ? { uid: user.uid } : {}),
        ...(Array.isArray(user.groups) ? { groups: user.groups } : {}),
        ...(isJsonObject(user.extra) ? { extra: user.extra } : {}),
        nonResourceAttributes: { path, verb },
      },
    });
    const decision = isJsonObject(access.status) ? access.status : {};
    return decision.allowed === true ? "allowed" : "forbidden";
  };
}
