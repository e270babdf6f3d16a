// The reconciler's Secret reads and deletes against a small fake of the REST client: what each
// answer of the apiserver becomes, and which request a delete sends.
import { describe, expect, it } from "vitest";
import type { JsonObject } from "../../src/core/workload.ts";
import { KubeApiError, type KubeRest, type RequestOptions } from "../../src/kube/rest.ts";
import { restSecretStore, type SecretRead } from "../../src/kube/secrets.ts";

type Answer = JsonObject | undefined | KubeApiError;

function fakeRest(
  answer: Answer,
  requests: { method: string; path: string; options?: RequestOptions }[] = [],
) {
  const unused = () => Promise.reject(new Error("not used by the secret store"));
  const rest: KubeRest = {
    request: async (method, path, options) => {
      requests.push({ method, path, ...(options === undefined ? {} : { options }) });
      if (answer instanceof KubeApiError) throw answer;
      return answer ?? {};
    },
    get: unused,
    getOptional: async (path) => {
      requests.push({ method: "GET", path });
      if (answer instanceof KubeApiError) throw answer;
      return answer;
    },
    apply: unused,
    mergePatch: unused,
    create: unused,
    replace: unused,
    delete: unused,
  };
  return rest;
}

const PATH = "/api/v1/namespaces/team-a/secrets/regcred";
const apiError = (status: number) => new KubeApiError("GET", PATH, status, "", "refused");

describe("restSecretStore.read", () => {
  it.each<[string, Answer, SecretRead]>([
    [
      "a registry credential",
      { type: "kubernetes.io/dockerconfigjson", data: { ".dockerconfigjson": "e30=" } },
      { found: true, type: "kubernetes.io/dockerconfigjson", data: { ".dockerconfigjson": "e30=" } },
    ],
    // The apiserver defaults an unset type to Opaque; data may be absent on an empty Secret.
    [
      "a Secret without type or data",
      { metadata: { name: "regcred" } },
      { found: true, type: "Opaque", data: {} },
    ],
    ["404 (getOptional's undefined)", undefined, { found: false, reason: "missing" }],
    ["403", apiError(403), { found: false, reason: "forbidden" }],
  ])("%s", async (_label, answer, expected) => {
    const requests: { method: string; path: string }[] = [];
    expect(await restSecretStore(fakeRest(answer, requests)).read("team-a", "regcred")).toEqual(expected);
    expect(requests).toEqual([{ method: "GET", path: PATH }]);
  });

  it.each([500, 503, 429])("throws any other API error (%i), so the run is retried", async (status) => {
    const error = apiError(status);
    await expect(restSecretStore(fakeRest(error)).read("team-a", "regcred")).rejects.toBe(error);
  });
});

describe("restSecretStore.deleteLabelled", () => {
  it("sends one deletecollection by label selector and counts what went", async () => {
    const requests: { method: string; path: string; options?: RequestOptions }[] = [];
    const store = restSecretStore(fakeRest({ items: [{}, {}] }, requests));
    expect(await store.deleteLabelled("prepull", "app.kubernetes.io/managed-by=prepull")).toBe(2);
    expect(requests).toEqual([
      {
        method: "DELETE",
        path: "/api/v1/namespaces/prepull/secrets",
        options: { query: { labelSelector: "app.kubernetes.io/managed-by=prepull" } },
      },
    ]);
  });

  it("counts 0 when the answer lists no items", async () => {
    expect(await restSecretStore(fakeRest({})).deleteLabelled("prepull", "a=b")).toBe(0);
  });
});
