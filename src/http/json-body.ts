// Request bodies are parsed here, not by fastify's default parser, to bound nesting depth before
// anything recursive (a validator, a serialiser, the core) sees the value: a 10 000-deep array is
// a few kilobytes and would otherwise turn into a stack overflow and a 500.
//
// The bound is checked on the raw bytes, before they are decoded: a loop over a Uint8Array that
// steps over string contents in an inner loop costs a fraction of JSON.parse's own pass, where
// the same scan over the decoded string cost about a third of it. UTF-8 is safe to scan bytewise:
// every byte of a multi-byte character is 0x80 or above, so it is never a quote, a backslash or a
// bracket.

/**
 * Deep enough for any AdmissionReview of a workload (the deepest pod-spec fields, such as node
 * affinity match expressions, sit about 20 levels down), shallow enough that no code on the
 * request path can overflow the stack.
 */
export const MAX_JSON_DEPTH = 128;

export type ParsedJson = { ok: true; value: unknown } | { ok: false; reason: string };

export function parseJsonBody(body: Uint8Array, maxDepth: number = MAX_JSON_DEPTH): ParsedJson {
  const depth = nestingDepth(body, maxDepth);
  if (depth > maxDepth) {
    return { ok: false, reason: `request body JSON is nested deeper than ${maxDepth} levels` };
  }
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8");
  if (text.trim() === "") return { ok: false, reason: "request body is empty; expected an AdmissionReview" };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    // JSON.parse only throws SyntaxError for text input; its message says where.
    if (!(error instanceof SyntaxError)) throw error;
    return { ok: false, reason: `request body is not valid JSON: ${error.message}` };
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/** Deepest bracket nesting outside strings; stops counting once past `limit`. */
function nestingDepth(bytes: Uint8Array, limit: number): number {
  const length = bytes.length;
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < length; i++) {
    const code = bytes[i];
    if (code === QUOTE) {
      // Step to the closing quote; a backslash escapes the byte after it (\" and \\ included).
      for (i++; i < length; i++) {
        const inString = bytes[i];
        if (inString === QUOTE) break;
        if (inString === BACKSLASH) i++;
      }
    } else if (code === OPEN_BRACE || code === OPEN_BRACKET) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if (code === CLOSE_BRACE || code === CLOSE_BRACKET) {
      depth--;
    }
  }
  return deepest;
}
