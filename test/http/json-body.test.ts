// The depth bound runs on raw bytes before decoding; these cases pin where strings start and end
// (escapes, multi-byte characters) so a bracket inside a string never counts and one outside always does.
import { describe, expect, it } from "vitest";
import { MAX_JSON_DEPTH, parseJsonBody } from "../../src/http/json-body.ts";

const bytes = (text: string) => Buffer.from(text, "utf8");
const nested = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;

describe("parseJsonBody", () => {
  it.each([
    ["an object", '{"a":[1,{"b":"c"}]}', { a: [1, { b: "c" }] }],
    ["brackets inside a string", '{"a":"[[[{{{"}', { a: "[[[{{{" }],
    ["an escaped quote inside a string", '{"a":"x\\"[[["}', { a: 'x"[[[' }],
    ["an escaped backslash before the closing quote", '{"a":"x\\\\","b":[1]}', { a: "x\\", b: [1] }],
    ["multi-byte characters beside brackets", '{"é[":"日本[{","b":["ü"]}', { "é[": "日本[{", b: ["ü"] }],
    ["surrounding whitespace", ' \n {"a":1} \n', { a: 1 }],
  ])("parses %s", (_name, text, value) => {
    expect(parseJsonBody(bytes(text))).toEqual({ ok: true, value });
  });

  it("accepts nesting exactly at the limit and refuses one level more", () => {
    expect(parseJsonBody(bytes(nested(4)), 4)).toEqual({ ok: true, value: [[[[]]]] });
    expect(parseJsonBody(bytes(nested(5)), 4)).toEqual({
      ok: false,
      reason: "request body JSON is nested deeper than 4 levels",
    });
  });

  it("counts objects and arrays alike, and only open ones", () => {
    // Depth 3 at most, although there are six opening brackets.
    expect(parseJsonBody(bytes('[{"a":[1]},{"b":[2]},[3]]'), 3).ok).toBe(true);
    expect(parseJsonBody(bytes('[{"a":[{}]}]'), 3).ok).toBe(false);
  });

  it("refuses 10 000 levels with the default limit, before JSON.parse sees them", () => {
    expect(parseJsonBody(bytes(nested(10_000)))).toEqual({
      ok: false,
      reason: `request body JSON is nested deeper than ${MAX_JSON_DEPTH} levels`,
    });
  });

  it("does not count brackets after an escaped quote as outside the string", () => {
    const deepInString = `{"a":"\\"${"[".repeat(10)}"}`;
    expect(parseJsonBody(bytes(deepInString), 2)).toEqual({ ok: true, value: { a: `"${"[".repeat(10)}` } });
  });

  it.each([
    ["empty", "", "request body is empty; expected an AdmissionReview"],
    ["only whitespace", " \n\t ", "request body is empty; expected an AdmissionReview"],
  ])("refuses an %s body", (_name, text, reason) => {
    expect(parseJsonBody(bytes(text))).toEqual({ ok: false, reason });
  });

  it("names the syntax error of invalid JSON, also for an unterminated string", () => {
    for (const text of ['{"a":', '{"a":"never closed']) {
      const parsed = parseJsonBody(bytes(text));
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.reason).toMatch(/^request body is not valid JSON: /);
    }
  });
});
