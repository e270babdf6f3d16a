// The chart's values table (README.md) and values.schema.json are generated from the comments of
// values.yaml by scripts/chart-docs.ts; these fail when a committed copy is stale (regenerate:
// npm run chart:docs), and pin what the generator makes of the comments.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  chartDocs,
  README_FILE,
  SCHEMA_FILE,
  TABLE_END,
  TABLE_START,
  VALUES_FILE,
  valuesTable,
  withValuesTable,
} from "../../scripts/chart-docs.ts";

const docs = chartDocs(readFileSync(VALUES_FILE, "utf8"));

type Schema = { [keyword: string]: unknown };

/** Every object schema that lists properties, with its path. */
function groups(schema: Schema, path = ""): [string, Schema][] {
  const properties = schema.properties as Record<string, Schema> | undefined;
  if (properties === undefined) return [];
  return [
    [path || "(root)", schema],
    ...Object.entries(properties).flatMap(([key, inner]) => groups(inner, `${path}/${key}`)),
  ];
}

describe("generated chart docs are fresh (npm run chart:docs)", () => {
  it("README.md carries the values table generated from values.yaml", () => {
    const readme = readFileSync(README_FILE, "utf8");
    expect(readme).toBe(withValuesTable(readme, valuesTable(docs.values)));
    expect(readme).toContain(`${TABLE_START}\n| Value | Default | Description |`);
  });

  it("values.schema.json is the schema generated from values.yaml", () => {
    expect(JSON.parse(readFileSync(SCHEMA_FILE, "utf8"))).toEqual(docs.schema);
  });

  it("documents every value, and refuses unknown keys in every group (additionalProperties: false)", () => {
    expect(docs.values.length).toBeGreaterThan(60);
    const found = groups(docs.schema);
    expect(found.map(([path]) => path)).toEqual(
      expect.arrayContaining(["(root)", "/image", "/tls", "/tls/certManager", "/reconciler/priorityClass"]),
    );
    for (const [path, schema] of found) expect(schema.additionalProperties, path).toBe(false);
  });
});

describe("chartDocs reads the comments", () => {
  const header = [
    "# The header is not a description.",
    '# @definition port {"type": "integer", "minimum": 1, "maximum": 65535}',
    "",
  ].join("\n");

  it("descriptions, defaults, inferred types, @schema keywords and inlined definitions", () => {
    const result = chartDocs(
      [
        header,
        "# -- Replicas, at least one;",
        "# spread across nodes.",
        '# @schema {"minimum": 1}',
        "replicaCount: 2",
        '# @schema {"required": ["port"]}',
        "service:",
        "  # -- Port of the | Service.",
        '  # @schema {"$ref": "#/definitions/port"}',
        "  port: 443",
        "  # -- Extra annotations.",
        "  annotations: {}",
        "# -- A number or a percentage.",
        '# @schema {"oneOf": [{"type": "integer"}, {"type": "string"}]}',
        'maxUnavailable: "100%"',
      ].join("\n"),
    );
    expect(result.values).toEqual([
      {
        path: "replicaCount",
        default: 2,
        description: "Replicas, at least one; spread across nodes.",
        schema: { type: "integer", minimum: 1 },
      },
      {
        path: "service.port",
        default: 443,
        description: "Port of the | Service.",
        schema: { type: "integer", minimum: 1, maximum: 65535 },
      },
      {
        path: "service.annotations",
        default: {},
        description: "Extra annotations.",
        schema: { type: "object" },
      },
      {
        path: "maxUnavailable",
        default: "100%",
        description: "A number or a percentage.",
        schema: { oneOf: [{ type: "integer" }, { type: "string" }] },
      },
    ]);
    expect(result.schema.properties).toMatchObject({
      service: { type: "object", additionalProperties: false, required: ["port"] },
    });
    expect(valuesTable(result.values).split("\n")).toEqual([
      "| Value | Default | Description |",
      "| --- | --- | --- |",
      "| `replicaCount` | `2` | Replicas, at least one; spread across nodes. |",
      "| `service.port` | `443` | Port of the \\| Service. |",
      "| `service.annotations` | `{}` | Extra annotations. |",
      '| `maxUnavailable` | `"100%"` | A number or a percentage. |',
    ]);
  });

  it.each([
    [
      "a value without a description",
      "replicaCount: 2",
      'values.yaml: replicaCount has no "# --" description',
    ],
    [
      "an unknown definition",
      '# -- Port.\n# @schema {"$ref": "#/definitions/nope"}\nport: 1',
      "values.yaml: port refers to an unknown #/definitions/nope",
    ],
    [
      "@schema that is not JSON",
      "# -- Port.\n# @schema {minimum: 1}\nport: 1",
      "the @schema of port is not JSON",
    ],
    ["an empty description", "# --\nport: 1", 'port has an empty "# --" description'],
  ])("refuses %s, naming the value", (_name, yaml, message) => {
    expect(() => chartDocs(`${header}${yaml}\n`)).toThrow(message);
  });

  it("withValuesTable needs both markers", () => {
    expect(() => withValuesTable("# README\n", "| table |")).toThrow(TABLE_START);
    expect(withValuesTable(`a\n${TABLE_START}\nold\n${TABLE_END}\nb`, "new")).toBe(
      `a\n${TABLE_START}\nnew\n${TABLE_END}\nb`,
    );
  });
});
