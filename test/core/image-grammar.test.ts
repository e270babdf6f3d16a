// The image-reference parser against references generated from the OCI distribution grammar
// (github.com/distribution/reference, reference.go):
//
//   reference        := name [ ":" tag ] [ "@" digest ]
//   name             := [domain '/'] remote-name
//   domain           := host [':' port-number]
//   host             := domain-name | IPv4address | \[ IPv6address \]
//   domain-name      := domain-component ['.' domain-component]*
//   domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
//   port-number      := /[0-9]+/
//   remote-name      := path-component ['/' path-component]*
//   path-component   := alpha-numeric [separator alpha-numeric]*
//   alpha-numeric    := /[a-z0-9]+/
//   separator        := /[_.]|__|[-]+/
//   tag              := /[\w][\w.-]{0,127}/
//   digest           := algorithm ":" hex   (go-digest: sha256/sha384/sha512, lowercase, exact length)
//
// plus docker's normalisation (ParseNormalizedNamed): the first component is a registry only if it
// contains "." or ":", is "localhost", or has uppercase; otherwise docker.io, and a one-component
// docker.io name gets "library/". The properties: every reference of the grammar parses to the
// canonical form built here from its parts; normalising is idempotent; the digest wins over any
// tag; and nothing outside the grammar is accepted.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseImageReference } from "../../src/core/images.ts";

const RUNS = 2000;

// The grammar above as one anchored expression, written from the spec (not from src/), to judge
// what the parser accepts.
const ALNUM = "[a-z0-9]+";
const PATH_COMPONENT = `${ALNUM}(?:(?:[_.]|__|[-]+)${ALNUM})*`;
const REMOTE_NAME = `${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
const TAG = "[\\w][\\w.-]{0,127}";
const DIGEST = "(?:sha256:[a-f0-9]{64}|sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128})";
const IN_GRAMMAR = new RegExp(`^(?:${DOMAIN}/)?${REMOTE_NAME}(?::${TAG})?(?:@${DIGEST})?$`);
/** A canonical reference: domain always present, and exactly one of tag and digest. */
const CANONICAL = new RegExp(`^${DOMAIN}/${REMOTE_NAME}(?::${TAG}|@${DIGEST})$`);
const NAME_TOTAL_LENGTH_MAX = 255;

const chars = (alphabet: string, minLength: number, maxLength: number) =>
  fc.string({ unit: fc.constantFrom(...alphabet), minLength, maxLength });
const LOWER_DIGITS = "abcdefghijklmnopqrstuvwxyz0123456789";
const MIXED_DIGITS = `${LOWER_DIGITS}ABCDEFGHIJKLMNOPQRSTUVWXYZ`;

const alphaNumeric = chars(LOWER_DIGITS, 1, 8);
const separator = fc.constantFrom(".", "_", "__", "-", "--", "---");
const pathComponent = fc
  .tuple(alphaNumeric, fc.array(fc.tuple(separator, alphaNumeric), { maxLength: 3 }))
  .map(([first, rest]) => first + rest.map(([sep, part]) => sep + part).join(""));
const remoteName = fc.array(pathComponent, { minLength: 1, maxLength: 4 });

const domainComponent = fc.oneof(
  chars(MIXED_DIGITS, 1, 1),
  fc
    .tuple(chars(MIXED_DIGITS, 1, 1), chars(`${MIXED_DIGITS}-`, 0, 10), chars(MIXED_DIGITS, 1, 1))
    .map(([a, b, c]) => a + b + c),
);
const octet = fc.integer({ min: 0, max: 255 }).map(String);
const host = fc.oneof(
  fc.array(domainComponent, { minLength: 1, maxLength: 4 }).map((parts) => parts.join(".")),
  fc.tuple(octet, octet, octet, octet).map((parts) => parts.join(".")),
  // An IPv6 address has at least one ":"; "[0]" alone is no host to docker (taken as a path).
  fc
    .tuple(chars("0123456789abcdefABCDEF:", 0, 19), chars("0123456789abcdefABCDEF:", 0, 19))
    .map(([a, b]) => `[${a}:${b}]`),
  fc.constantFrom("localhost", "docker.io", "index.docker.io", "ghcr.io", "registry-1.docker.io"),
);
const port = fc.integer({ min: 0, max: 99_999 }).map(String);
const domain = fc
  .tuple(host, fc.option(port, { nil: undefined }))
  .map(([h, p]) => (p === undefined ? h : `${h}:${p}`));
const tag = fc
  .tuple(chars(`${MIXED_DIGITS}_`, 1, 1), chars(`${MIXED_DIGITS}_.-`, 0, 127))
  .map(([a, b]) => a + b);
const digest = fc.oneof(
  chars("0123456789abcdef", 64, 64).map((hex) => `sha256:${hex}`),
  chars("0123456789abcdef", 96, 96).map((hex) => `sha384:${hex}`),
  chars("0123456789abcdef", 128, 128).map((hex) => `sha512:${hex}`),
);

interface Parts {
  domain?: string;
  path: string[];
  tag?: string;
  digest?: string;
}

const parts: fc.Arbitrary<Parts> = fc
  .record(
    {
      domain: fc.option(domain, { nil: undefined }),
      path: remoteName,
      tag: fc.option(tag, { nil: undefined }),
      digest: fc.option(digest, { nil: undefined }),
    },
    { requiredKeys: ["path"] },
  )
  // Without a domain, a first path component with "." is taken for a registry host by docker's
  // rule, and then it must be a valid host: "a_b.c/d" is in the grammar as a path, but no runtime
  // can pull it. Those are judged by the "outside the grammar" property instead.
  .filter((p) => p.domain !== undefined || p.path.length === 1 || !p.path[0]?.includes("."));

function render(p: Parts): string {
  const name = p.domain === undefined ? p.path.join("/") : `${p.domain}/${p.path.join("/")}`;
  return `${name}${p.tag === undefined ? "" : `:${p.tag}`}${p.digest === undefined ? "" : `@${p.digest}`}`;
}

/** docker's splitDockerDomain and the canonical form, from the generated parts. */
function expectedName(p: Parts): { domain: string; path: string } {
  let domain = "docker.io";
  let path = p.path;
  if (p.domain !== undefined) {
    const isHost =
      p.domain.includes(".") ||
      p.domain.includes(":") ||
      p.domain === "localhost" ||
      p.domain.toLowerCase() !== p.domain;
    if (isHost) domain = p.domain === "index.docker.io" ? "docker.io" : p.domain;
    else path = [p.domain, ...path];
  }
  if (domain === "docker.io" && path.length === 1) path = ["library", ...path];
  return { domain, path: path.join("/") };
}

function canonicalOf(reference: string): string {
  const parsed = parseImageReference(reference);
  if (!parsed.ok) throw new Error(`${JSON.stringify(reference)} was refused: ${parsed.error}`);
  return parsed.image.canonical;
}

describe("parseImageReference against the OCI distribution grammar", () => {
  it("accepts every reference of the grammar, normalised as docker does", () => {
    fc.assert(
      fc.property(parts, (p) => {
        const { domain: wantDomain, path: wantPath } = expectedName(p);
        const parsed = parseImageReference(render(p));
        if (wantDomain.length + 1 + wantPath.length > NAME_TOTAL_LENGTH_MAX) {
          expect(parsed).toEqual({ ok: false, error: "name longer than 255 characters" });
          return;
        }
        const name = `${wantDomain}/${wantPath}`;
        const want =
          p.digest === undefined
            ? {
                domain: wantDomain,
                path: wantPath,
                tag: p.tag ?? "latest",
                canonical: `${name}:${p.tag ?? "latest"}`,
              }
            : {
                domain: wantDomain,
                path: wantPath,
                digest: p.digest,
                canonical: `${name}@${p.digest}`,
                ...(p.tag === undefined ? {} : { tag: p.tag }),
              };
        expect(parsed).toEqual({ ok: true, image: want });
        expect(want.canonical).toMatch(CANONICAL);
      }),
      { numRuns: RUNS },
    );
  });

  it("normalising is idempotent: the canonical form parses to itself", () => {
    fc.assert(
      fc.property(parts, (p) => {
        const parsed = parseImageReference(render(p));
        fc.pre(parsed.ok);
        if (!parsed.ok) return;
        const again = parseImageReference(parsed.image.canonical);
        expect(again.ok && again.image.canonical).toBe(parsed.image.canonical);
        expect(again.ok && [again.image.domain, again.image.path]).toEqual([
          parsed.image.domain,
          parsed.image.path,
        ]);
      }),
      { numRuns: RUNS },
    );
  });

  it("the digest wins: any tag, or none, next to a digest gives the same canonical reference", () => {
    fc.assert(
      fc.property(parts, tag, tag, digest, (p, tagA, tagB, d) => {
        const bare = render({ ...p, tag: undefined, digest: d });
        fc.pre(parseImageReference(bare).ok);
        const canonical = canonicalOf(bare);
        expect(canonical.endsWith(`@${d}`)).toBe(true);
        expect(canonical.slice(0, -d.length - 1)).not.toMatch(/:[\w][\w.-]*$/);
        expect(canonicalOf(render({ ...p, tag: tagA, digest: d }))).toBe(canonical);
        expect(canonicalOf(render({ ...p, tag: tagB, digest: d }))).toBe(canonical);
      }),
      { numRuns: RUNS },
    );
  });

  /** What an accepted input must satisfy, whatever it was. */
  function holdAccepted(input: string): void {
    const parsed = parseImageReference(input);
    if (!parsed.ok) return;
    expect(input).toMatch(IN_GRAMMAR);
    expect(input).not.toMatch(/^[a-f0-9]{64}$/);
    expect(parsed.image.canonical).toMatch(CANONICAL);
    const name = parsed.image.canonical.replace(/(?::[\w][\w.-]*|@.*)$/, "");
    expect(name.length).toBeLessThanOrEqual(NAME_TOTAL_LENGTH_MAX);
  }

  it("accepts nothing outside the grammar: arbitrary strings over the grammar's own characters", () => {
    const alphabet = `${MIXED_DIGITS}._-/:@[]+ \n\t\u00e9\u0000`;
    fc.assert(
      fc.property(
        fc.oneof(chars(alphabet, 0, 40), fc.string({ unit: "binary", maxLength: 40 })),
        holdAccepted,
      ),
      { numRuns: RUNS },
    );
  });

  it("accepts nothing outside the grammar: references built from near misses of each production", () => {
    // Each piece is either right or a typical mistake for that piece, so most inputs are one or
    // two mistakes away from the grammar.
    const nearPathComponent = fc.oneof(
      pathComponent,
      fc
        .tuple(pathComponent, fc.constantFrom("A", "Z", "___", ".-", "..", "-", "_", "", " "))
        .map(([c, x]) => c + x),
      fc.tuple(fc.constantFrom("A", "_", "-", ".", ""), pathComponent).map(([x, c]) => x + c),
    );
    const nearDomain = fc.oneof(
      domain,
      fc
        .tuple(domainComponent, fc.constantFrom("_x", "-", ".", "..", ":", ":x", "[::1", "]"))
        .map(([c, x]) => c + x),
      fc.constantFrom("[]", "[::1]:", ":5000", "local_host", "-a.io", "a.io:-1"),
    );
    const nearTag = fc.oneof(tag, fc.constantFrom("", ".v1", "-v1", "v/1", "v 1", "t".repeat(129), "\u00e9"));
    const nearDigest = fc.oneof(
      digest,
      chars("0123456789abcdef", 63, 65).map((hex) => `sha256:${hex}`),
      chars("0123456789ABCDEF", 64, 64).map((hex) => `sha256:${hex}`),
      chars("0123456789abcdef", 32, 32).map((hex) => `md5:${hex}`),
      fc.constantFrom("sha256:", ":abc", "sha256", `SHA256:${"a".repeat(64)}`),
    );
    const nearReference = fc
      .record(
        {
          domain: fc.option(nearDomain, { nil: undefined }),
          path: fc.array(nearPathComponent, { minLength: 0, maxLength: 4 }),
          tag: fc.option(nearTag, { nil: undefined }),
          digest: fc.option(nearDigest, { nil: undefined }),
        },
        { requiredKeys: ["path"] },
      )
      .map(render);
    fc.assert(fc.property(nearReference, holdAccepted), { numRuns: RUNS });
  });

  it("accepts nothing outside the grammar: grammar references with one character inserted, removed or replaced", () => {
    const stray = fc.constantFrom(..."Aa0._-/:@[]+ \n\u00e9\u0000\u212a#%");
    const edit = fc.tuple(fc.constantFrom("insert", "remove", "replace"), fc.nat(), stray);
    fc.assert(
      fc.property(parts, fc.array(edit, { minLength: 1, maxLength: 3 }), (p, edits) => {
        let reference = render(p);
        for (const [kind, at, char] of edits) {
          const i = reference.length === 0 ? 0 : at % reference.length;
          if (kind === "insert") reference = reference.slice(0, i) + char + reference.slice(i);
          else if (kind === "remove") reference = reference.slice(0, i) + reference.slice(i + 1);
          else reference = reference.slice(0, i) + char + reference.slice(i + 1);
        }
        holdAccepted(reference);
      }),
      { numRuns: RUNS },
    );
  });
});
