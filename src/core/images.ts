// Image references: parse and normalise them the way the kubelet's runtime does (containerd and
// docker both use github.com/distribution/reference), collect them from a pod spec, and digest a
// set of them. Two spellings of one image ("nginx" and "docker.io/library/nginx:latest") must
// compare equal, or the same image would be pulled twice and tracked as a change.
import { hash } from "node:crypto";
import { isJsonObject, type JsonObject } from "./workload.ts";

interface ImageReference {
  domain: string;
  path: string;
  tag?: string;
  digest?: string;
  /** canonical form: domain/path[:tag][@digest], digest wins: when a digest is present the tag is dropped from `canonical` */
  canonical: string;
}

export type ParsedImage = { ok: true; image: ImageReference } | { ok: false; error: string };

const DEFAULT_DOMAIN = "docker.io";
const LEGACY_DEFAULT_DOMAIN = "index.docker.io";
const OFFICIAL_REPOSITORY_PREFIX = "library/";
const DEFAULT_TAG = "latest";
const NAME_TOTAL_LENGTH_MAX = 255;
/** Longer than any valid reference (name, tag and a sha512 digest): refuse before any regex runs. */
const REFERENCE_LENGTH_MAX = 1024;

// The grammar of github.com/distribution/reference (regexp.go), piece by piece.
const ALPHANUMERIC = "[a-z0-9]+";
const SEPARATOR = "(?:[._]|__|[-]+)";
const PATH_COMPONENT = `${ALPHANUMERIC}(?:${SEPARATOR}${ALPHANUMERIC})*`;
const REMOTE_NAME = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6_ADDRESS = "\\[[a-fA-F0-9:]+\\]";
const DOMAIN_AND_PORT = new RegExp(`^(?:${DOMAIN_NAME}|${IPV6_ADDRESS})(?::[0-9]+)?$`);
const TAG = /^\w[\w.-]{0,127}$/;
const IMAGE_ID = /^[a-f0-9]{64}$/;
/** go-digest only accepts registered algorithms, each with its exact lowercase hex length. */
const DIGEST_HEX_LENGTH: Readonly<Record<string, number>> = { sha256: 64, sha384: 96, sha512: 128 };

/** Parse and normalise one reference, e.g. "nginx" -> "docker.io/library/nginx:latest". */
export function parseImageReference(ref: string): ParsedImage {
  if (typeof ref !== "string" || ref === "") return { ok: false, error: "empty reference" };
  if (ref.length > REFERENCE_LENGTH_MAX) return { ok: false, error: "reference too long" };
  if (IMAGE_ID.test(ref)) return { ok: false, error: "an image ID, not a reference" };

  const { domain, remainder } = splitDomain(ref);
  if (!DOMAIN_AND_PORT.test(domain)) return { ok: false, error: "invalid registry host" };

  const at = remainder.indexOf("@");
  const nameAndTag = at === -1 ? remainder : remainder.slice(0, at);
  const digest = at === -1 ? undefined : remainder.slice(at + 1);
  const colon = nameAndTag.indexOf(":");
  const path = colon === -1 ? nameAndTag : nameAndTag.slice(0, colon);
  const tag = colon === -1 ? undefined : nameAndTag.slice(colon + 1);

  if (path.toLowerCase() !== path) return { ok: false, error: "repository name must be lowercase" };
  if (!REMOTE_NAME.test(path)) return { ok: false, error: "invalid repository name" };
  if (domain.length + 1 + path.length > NAME_TOTAL_LENGTH_MAX) {
    return { ok: false, error: `name longer than ${NAME_TOTAL_LENGTH_MAX} characters` };
  }
  if (tag !== undefined && !TAG.test(tag)) return { ok: false, error: "invalid tag" };
  if (digest !== undefined) {
    const digestError = digestProblem(digest);
    if (digestError !== undefined) return { ok: false, error: digestError };
  }

  const name = `${domain}/${path}`;
  if (digest !== undefined) {
    const image: ImageReference = { domain, path, digest, canonical: `${name}@${digest}` };
    if (tag !== undefined) image.tag = tag;
    return { ok: true, image };
  }
  const effectiveTag = tag ?? DEFAULT_TAG;
  return { ok: true, image: { domain, path, tag: effectiveTag, canonical: `${name}:${effectiveTag}` } };
}

/**
 * docker's splitDockerDomain: the first component is a registry only if it looks like a host
 * (has "." or ":", is "localhost", or has uppercase letters, which a repository path cannot).
 */
function splitDomain(ref: string): { domain: string; remainder: string } {
  const slash = ref.indexOf("/");
  const first = slash === -1 ? "" : ref.slice(0, slash);
  const isHost =
    slash !== -1 &&
    (first.includes(".") || first.includes(":") || first === "localhost" || first.toLowerCase() !== first);
  let domain = isHost ? first : DEFAULT_DOMAIN;
  let remainder = isHost ? ref.slice(slash + 1) : ref;
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !remainder.includes("/"))
    remainder = OFFICIAL_REPOSITORY_PREFIX + remainder;
  return { domain, remainder };
}

function digestProblem(digest: string): string | undefined {
  const colon = digest.indexOf(":");
  if (colon <= 0) return "invalid digest";
  const algorithm = digest.slice(0, colon);
  const hex = digest.slice(colon + 1);
  const length = DIGEST_HEX_LENGTH[algorithm];
  if (length === undefined) return "unsupported digest algorithm";
  if (hex.length !== length || !/^[a-f0-9]+$/.test(hex)) return `invalid ${algorithm} digest`;
  return undefined;
}

interface CollectedImage {
  container: string;
  reference: string /* canonical */;
  pullPolicy?: string;
  untagged: boolean /* had no tag or :latest and no digest */;
}

export interface ImageCollection {
  images: CollectedImage[] /* de-duplicated by canonical ref, first container wins, stable order */;
  warnings: string[];
}

/**
 * Init containers come first because the pod needs their images first. Ephemeral containers are
 * left out: they are added to running pods for debugging and are not part of what the workload
 * starts.
 */
const CONTAINER_LISTS = ["initContainers", "containers"] as const;

/** The images a pod spec runs, normalised and de-duplicated, with warnings for the user. */
export function collectImages(podSpec: JsonObject): ImageCollection {
  const images: CollectedImage[] = [];
  const warnings: string[] = [];
  const seen = new Set<string>();
  const addWarning = (warning: string) => {
    if (!warnings.includes(warning)) warnings.push(warning);
  };

  for (const list of CONTAINER_LISTS) {
    const containers = isJsonObject(podSpec) ? podSpec[list] : undefined;
    if (!Array.isArray(containers)) continue;
    containers.forEach((container: unknown, index: number) => {
      if (!isJsonObject(container)) return;
      const name = typeof container.name === "string" ? container.name : `${list}[${index}]`;
      const image = container.image;
      if (typeof image !== "string" || image === "") {
        addWarning(
          boundedWarning((n) => `prepull: container "${n}" has no image, nothing to pre-pull`, name),
        );
        return;
      }
      const parsed = parseImageReference(image);
      if (!parsed.ok) {
        const error = parsed.error;
        addWarning(
          boundedWarning(
            (n, r) => `prepull: container "${n}": invalid image "${r}" (${error}); skipped`,
            name,
            image,
          ),
        );
        return;
      }
      const pullPolicy =
        typeof container.imagePullPolicy === "string" ? container.imagePullPolicy : undefined;
      const untagged = parsed.image.digest === undefined && parsed.image.tag === DEFAULT_TAG;
      if (untagged) {
        addWarning(
          boundedWarning(
            (n, r) =>
              `prepull: container "${n}": "${r}" is untagged or :latest; pin a tag for a stable cache`,
            name,
            image,
          ),
        );
      }
      if (pullPolicy === "Always") {
        addWarning(
          boundedWarning(
            (n) =>
              `prepull: container "${n}": imagePullPolicy Always asks the registry on every start; a cache cannot help`,
            name,
          ),
        );
      }
      const reference = parsed.image.canonical;
      if (seen.has(reference)) return;
      seen.add(reference);
      const collected: CollectedImage = { container: name, reference, untagged };
      if (pullPolicy !== undefined) collected.pullPolicy = pullPolicy;
      images.push(collected);
    });
  }
  return { images, warnings };
}

/** Kubernetes asks webhooks to keep each warning under 120 characters. */
export const WARNING_LENGTH_MAX = 119;

/**
 * A warning that fits WARNING_LENGTH_MAX however long the user's container name and image are:
 * the fixed text is kept whole and the two user-supplied fields share what is left, each
 * shortened in the middle so both its start and its end (the tag) stay readable.
 * The result is cut at the end only when the fixed text alone is too long.
 */
export function boundedWarning(
  render: (name: string, ref: string) => string,
  name: string,
  ref = "",
): string {
  const safeName = printable(name);
  const safeRef = printable(ref);
  const budget = Math.max(0, WARNING_LENGTH_MAX - render("", "").length);
  // The name takes what the reference leaves, but at least a third when both are long.
  const nameBudget = Math.min(safeName.length, Math.max(Math.floor(budget / 3), budget - safeRef.length));
  const shortName = shortenMiddle(safeName, nameBudget);
  const shortRef = shortenMiddle(safeRef, budget - shortName.length);
  const text = render(shortName, shortRef);
  return text.length <= WARNING_LENGTH_MAX ? text : `${text.slice(0, WARNING_LENGTH_MAX - 3)}...`;
}

/** Warnings travel in HTTP headers and end up quoted in terminals: plain printable ASCII only. */
function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]|["\\]/g, "?");
}

function shortenMiddle(text: string, max: number): string {
  if (text.length <= max) return text;
  if (max < 5) return text.slice(0, Math.max(0, max));
  const keep = max - 3;
  const head = Math.ceil(keep / 2);
  return `${text.slice(0, head)}...${text.slice(text.length - (keep - head))}`;
}

/** Stable digest of a set of canonical references: order and duplicates do not change it. */
export function imageSetDigest(references: readonly string[]): string {
  const sorted = [...new Set(references)].sort();
  // JSON keeps the boundaries between references unambiguous.
  // crypto.hash is the one-shot form: no Hash object per admission, same digest.
  const hex = hash("sha256", JSON.stringify(sorted), "hex");
  return `sha256:${hex.slice(0, 16)}`;
}
