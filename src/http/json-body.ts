// Request bodies are parsed here, not by fastify's default parser, to bound nesting depth before
// anything recursive (a parser, a validator, the core) sees the value: a 10 000-deep array is a
// few kilobytes and would otherwise turn into a stack overflow and a 500.

/**
 * Deep enough for any AdmissionReview of a workload (the deepest pod-spec fields, such as node
 * affinity match expressions, sit about 20 levels down), shallow enough that no code on the
 * request path can overflow the stack.
 */
export const MAX_JSON_DEPTH = 128;

export type ParsedJson = { ok: true; value: unknown } | { ok: false; reason: string };

export function parseJsonBody(text: string, maxDepth: number = MAX_JSON_DEPTH): ParsedJson {
  if (text.trim() === "") return { ok: false, reason: "request body is empty; expected an AdmissionReview" };
  const depth = nestingDepth(text, maxDepth);
  if (depth > maxDepth) {
    return { ok: false, reason: `request body JSON is nested deeper than ${maxDepth} levels` };
  }
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

/**
 * Deepest bracket nesting outside strings; stops counting once past `limit`. Strings, most of an
 * AdmissionReview's bytes, are skipped with indexOf (native, vectorised) rather than walked one
 * character at a time: that keeps the scan a small fraction of JSON.parse's own cost.
 */
function nestingDepth(text: string, limit: number): number {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === QUOTE) {
      i = closingQuote(text, i);
      // Unterminated: JSON.parse rejects it with a position, which says more than we could.
      if (i === -1) return deepest;
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

/** Index of the quote that closes the string opened at `open`, or -1. */
function closingQuote(text: string, open: number): number {
  let quote = text.indexOf('"', open + 1);
  while (quote !== -1) {
    // A quote preceded by an odd run of backslashes is escaped; an even run escapes itself.
    let backslashes = 0;
    for (let j = quote - 1; text.charCodeAt(j) === BACKSLASH; j--) backslashes++;
    if (backslashes % 2 === 0) return quote;
    quote = text.indexOf('"', quote + 1);
  }
  return -1;
}
