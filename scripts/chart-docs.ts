// Generates the chart's values documentation from charts/prepull/values.yaml, the one place each
// value is documented (as cert-manager's chart does with its helm-tool):
//   - the values table of charts/prepull/README.md, between its values-table markers;
//   - charts/prepull/values.schema.json, additionalProperties: false on every group of values.
// `npm run chart:docs` writes both; test/chart/docs.test.ts fails when either is stale.
//
// The comment above a value documents it: `# --` starts the description, and a last line
// `# @schema {...}` adds JSON Schema keywords (the type is inferred from the default unless the
// keywords give one). A map without a `# --` comment is a group: its keys are documented one by
// one, and a `# @schema` above it adds keywords to the group's object (e.g. required).
// `# @definition <name> {...}` lines name schemas that {"$ref": "#/definitions/<name>"} inlines.
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isMap, isScalar, type Pair, parseDocument, type YAMLMap } from "yaml";

const CHART_DIR = join(import.meta.dirname, "..", "charts", "prepull");
export const VALUES_FILE = join(CHART_DIR, "values.yaml");
export const README_FILE = join(CHART_DIR, "README.md");
export const SCHEMA_FILE = join(CHART_DIR, "values.schema.json");
export const TABLE_START = "<!-- values-table:start (npm run chart:docs) -->";
export const TABLE_END = "<!-- values-table:end -->";

type Schema = { [keyword: string]: unknown };

export interface DocumentedValue {
  /** Dotted path, e.g. `image.repository`. */
  path: string;
  default: unknown;
  description: string;
  schema: Schema;
}

export interface ChartDocs {
  values: DocumentedValue[];
  schema: Schema;
}

/** Reads values.yaml text into its documented values and the values schema. */
export function chartDocs(valuesYaml: string): ChartDocs {
  const document = parseDocument(valuesYaml);
  if (document.errors.length > 0) throw new Error(`values.yaml: ${document.errors[0]?.message}`);
  const definitions = definitionsOf(valuesYaml);
  const root = document.contents;
  if (!isMap(root)) throw new Error("values.yaml: the top level must be a map");
  const values: DocumentedValue[] = [];
  const group = groupSchema(root, "", definitions, values);
  return {
    values,
    schema: {
      $schema: "http://json-schema.org/draft-07/schema#",
      title: "prepull chart values",
      type: "object",
      additionalProperties: false,
      properties: {
        // Helm hands every chart the parent's global values; without this, additionalProperties
        // would refuse any install as a subchart.
        global: { type: "object", description: "Helm's global values (passed down by parent charts)." },
        ...(group.properties as Schema),
      },
    },
  };
}

function groupSchema(map: YAMLMap, prefix: string, definitions: Definitions, out: DocumentedValue[]): Schema {
  const properties: Schema = {};
  map.items.forEach((pair, index) => {
    const key = keyOf(pair, prefix);
    const path = prefix === "" ? key : `${prefix}.${key}`;
    // yaml attaches the comment above a map's first key to the map itself.
    const comment = [index === 0 ? map.commentBefore : undefined, keyComment(pair)]
      .filter((text): text is string => typeof text === "string")
      .join("\n");
    const { description, keywords } = parseComment(comment, path, definitions);
    const value = pair.value;
    if (description === undefined) {
      if (!isMap(value)) throw new Error(`values.yaml: ${path} has no "# --" description above it`);
      properties[key] = { ...groupSchema(value, path, definitions, out), ...keywords };
      return;
    }
    const defaultValue = toJs(value);
    const schema = withInferredType(keywords, defaultValue);
    out.push({ path, default: defaultValue, description, schema });
    properties[key] = schema;
  });
  return { type: "object", additionalProperties: false, properties };
}

function keyOf(pair: Pair, prefix: string): string {
  if (!isScalar(pair.key) || typeof pair.key.value !== "string")
    throw new Error(`values.yaml: a key under ${prefix || "the top level"} is not a plain string`);
  return pair.key.value;
}

function keyComment(pair: Pair): string | undefined {
  return isScalar(pair.key) ? (pair.key.commentBefore ?? undefined) : undefined;
}

function toJs(node: unknown): unknown {
  if (node === null || node === undefined) return null;
  if (typeof node === "object" && "toJSON" in node && typeof node.toJSON === "function") return node.toJSON();
  return node;
}

/**
 * The value's own comment block is the last one that starts with `--` (a blank line ends a
 * block, so the file's header comment stays out of its first value's description).
 */
function parseComment(
  comment: string,
  path: string,
  definitions: Definitions,
): { description?: string; keywords: Schema } {
  const lines = comment.split("\n").map((line) => line.trim());
  const start = lines.findLastIndex((line) => line.startsWith("--"));
  const own = lines.slice(start === -1 ? lines.lastIndexOf("") + 1 : start);
  const schemaLines = own.filter((line) => line.startsWith("@schema "));
  if (schemaLines.length > 1) throw new Error(`values.yaml: ${path} has more than one @schema line`);
  const keywords = schemaLines[0] === undefined ? {} : parseJson(schemaLines[0].slice(8), path);
  const resolved = resolveRefs(keywords, definitions, path) as Schema;
  if (start === -1) return { keywords: resolved };
  const text = own
    .filter((line) => !line.startsWith("@schema ") && !line.startsWith("@definition "))
    .join(" ")
    .replace(/^--\s*/, "")
    .trim();
  if (text === "") throw new Error(`values.yaml: ${path} has an empty "# --" description`);
  return { description: text, keywords: resolved };
}

type Definitions = ReadonlyMap<string, Schema>;

function definitionsOf(valuesYaml: string): Definitions {
  const definitions = new Map<string, Schema>();
  for (const match of valuesYaml.matchAll(/^#\s*@definition\s+(\w+)\s+(.+)$/gm)) {
    const [, name = "", json = ""] = match;
    definitions.set(name, parseJson(json, `@definition ${name}`));
  }
  return definitions;
}

function parseJson(text: string, where: string): Schema {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`values.yaml: the @schema of ${where} is not JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw new Error(`values.yaml: the @schema of ${where} must be a JSON object`);
  return parsed as Schema;
}

/** Inlines every {"$ref": "#/definitions/<name>"}, keeping keywords given beside the $ref. */
function resolveRefs(node: unknown, definitions: Definitions, path: string): unknown {
  if (Array.isArray(node)) return node.map((item) => resolveRefs(item, definitions, path));
  if (typeof node !== "object" || node === null) return node;
  const { $ref, ...rest } = node as Schema;
  const resolvedRest = Object.fromEntries(
    Object.entries(rest).map(([key, value]) => [key, resolveRefs(value, definitions, path)]),
  );
  if ($ref === undefined) return resolvedRest;
  const name = typeof $ref === "string" ? $ref.replace(/^#\/definitions\//, "") : "";
  const definition = definitions.get(name);
  if (definition === undefined) throw new Error(`values.yaml: ${path} refers to an unknown ${String($ref)}`);
  return { ...definition, ...resolvedRest };
}

function withInferredType(keywords: Schema, value: unknown): Schema {
  const typed = ["type", "oneOf", "anyOf", "const"].some((keyword) => keyword in keywords);
  return typed ? keywords : { type: jsonType(value), ...keywords };
}

function jsonType(value: unknown): string {
  if (Array.isArray(value)) return "array";
  if (value === null) return "null";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

/** The README's values table, one row per documented value, in values.yaml order. */
export function valuesTable(values: readonly DocumentedValue[]): string {
  const cell = (text: string) => text.replaceAll("|", "\\|");
  return [
    "| Value | Default | Description |",
    "| --- | --- | --- |",
    ...values.map(
      (value) =>
        `| \`${value.path}\` | \`${cell(JSON.stringify(value.default))}\` | ${cell(value.description)} |`,
    ),
  ].join("\n");
}

/** README text with the table between the markers replaced. */
export function withValuesTable(readme: string, table: string): string {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start === -1 || end < start)
    throw new Error(`README.md: no "${TABLE_START}" ... "${TABLE_END}" markers`);
  return `${readme.slice(0, start + TABLE_START.length)}\n${table}\n${readme.slice(end)}`;
}

function main(): void {
  const docs = chartDocs(readFileSync(VALUES_FILE, "utf8"));
  writeFileSync(README_FILE, withValuesTable(readFileSync(README_FILE, "utf8"), valuesTable(docs.values)));
  writeFileSync(SCHEMA_FILE, `${JSON.stringify(docs.schema, null, 2)}\n`);
  // The repository's JSON style is biome's; the freshness test compares the parsed schema.
  const biome = join(import.meta.dirname, "..", "node_modules", ".bin", "biome");
  const formatted = spawnSync(biome, ["format", "--write", SCHEMA_FILE], { stdio: "inherit" });
  if (formatted.status !== 0) throw new Error(`biome format ${SCHEMA_FILE} failed`);
  process.stdout.write(`wrote ${docs.values.length} values to ${README_FILE} and ${SCHEMA_FILE}\n`);
}

if (import.meta.main) main();
