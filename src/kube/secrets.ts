// The reconciler's reads and deletes of Secrets, behind a small interface so the reconcile reads
// no REST paths and status codes itself. A 404 and a 403 are answers about that one Secret (it
// does not exist; prepull may not read it); any other error is the API's and is thrown, so the
// run is retried.
import type { JsonObject } from "../core/workload.ts";
import { isJsonObject } from "../core/workload.ts";
import { deleteLabelled } from "./collections.ts";
import { collectionPath, objectPath } from "./paths.ts";
import { KubeApiError, type KubeRest } from "./rest.ts";

/** What one read of a Secret found. */
export type SecretRead =
  | { found: true; type: string; data: JsonObject }
  | { found: false; reason: "missing" | "forbidden" };

export interface SecretStore {
  /** The Secret's type (`Opaque` when unset, as the apiserver defaults it) and data. */
  read(namespace: string, name: string): Promise<SecretRead>;
  /**
   * Deletes every Secret in the namespace that matches the label selector, in one
   * deletecollection (which needs that verb only, not read access); returns how many went.
   */
  deleteLabelled(namespace: string, labelSelector: string): Promise<number>;
}

export function restSecretStore(rest: KubeRest): SecretStore {
  return {
    async read(namespace, name) {
      let secret: JsonObject | undefined;
      try {
        secret = await rest.getOptional(objectPath("Secret", namespace, name));
      } catch (error) {
        if (error instanceof KubeApiError && error.status === 403)
          return { found: false, reason: "forbidden" };
        throw error;
      }
      if (secret === undefined) return { found: false, reason: "missing" };
      return {
        found: true,
        type: typeof secret.type === "string" ? secret.type : "Opaque",
        data: isJsonObject(secret.data) ? secret.data : {},
      };
    },
    deleteLabelled: (namespace, labelSelector) =>
      deleteLabelled(rest, collectionPath("Secret", namespace), labelSelector),
  };
}
