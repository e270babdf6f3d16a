// Kubernetes resource quantities ("100m", "16Mi", "0.5"), read and written the way the apiserver
// stores them. Why it matters: the apiserver canonicalises every quantity it stores ("0.01" is
// kept as "10m", "1024Mi" as "1Gi"), so a manifest that spells one differently never looks equal
// to the stored object, and every restart would rewrite it. And a request above its limit is
// refused ("must be less than or equal to ... limit"), so settings are compared before use.
//
// The canonical form follows apimachinery's Quantity.CanonicalizeBytes: zero is "0"; a binary
// suffix (Ki…Ei) stays binary when the value is a whole number of bytes of at least 1024, written
// with the largest power of 1024 that leaves an integer; anything else is decimal, written with
// the largest SI exponent (m, "", k, M, G, T, P, E) that leaves an integer. Precision finer than
// a milli-unit, exponents ("1e3") and signs are not accepted: prepull never needs them.

const DECIMAL: Record<string, number> = { m: -3, "": 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY: Record<string, number> = { Ki: 1, Mi: 2, Gi: 3, Ti: 4, Pi: 5, Ei: 6 };
const BINARY_SUFFIXES = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
const PATTERN = /^(\d+(?:\.\d*)?|\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;

export interface Quantity {
  /** The value in thousandths of the unit (millicores, millibytes): exact. */
  milli: bigint;
  /** Written with a binary suffix, which the canonical form keeps when it can. */
  binary: boolean;
}

/** The quantity, or undefined when it is not a plain non-negative decimal of whole milli-units. */
export function parseQuantity(text: string): Quantity | undefined {
  const match = PATTERN.exec(text);
  if (match === null) return undefined;
  const [, number = "", suffix = ""] = match;
  const [whole = "", fraction = ""] = number.split(".");
  const digits = BigInt(`${whole}${fraction}` || "0");
  const scale = 10n ** BigInt(fraction.length);
  let numerator = digits * 1000n;
  if (suffix in BINARY) numerator *= 1024n ** BigInt(BINARY[suffix] ?? 0);
  else {
    const exponent = DECIMAL[suffix] ?? 0;
    if (exponent >= 0) numerator *= 10n ** BigInt(exponent);
    else numerator /= 10n ** BigInt(-exponent);
  }
  if (numerator % scale !== 0n) return undefined;
  return { milli: numerator / scale, binary: suffix in BINARY };
}

/** The text the apiserver stores for this quantity; undefined when it is not one prepull accepts. */
export function canonicalQuantity(text: string): string | undefined {
  const quantity = parseQuantity(text);
  return quantity === undefined ? undefined : formatQuantity(quantity);
}

function formatQuantity({ milli, binary }: Quantity): string {
  if (milli === 0n) return "0";
  if (binary && milli % 1000n === 0n && milli >= 1024n * 1000n) {
    let bytes = milli / 1000n;
    let power = 0;
    while (bytes % 1024n === 0n && power < BINARY_SUFFIXES.length - 1) {
      bytes /= 1024n;
      power++;
    }
    return `${bytes}${BINARY_SUFFIXES[power]}`;
  }
  let value = milli;
  let exponent = -3;
  while (value % 1000n === 0n && exponent < 18) {
    value /= 1000n;
    exponent += 3;
  }
  const suffix = Object.entries(DECIMAL).find(([, e]) => e === exponent)?.[0] ?? "";
  return `${value}${suffix}`;
}

/** Negative, zero or positive as a is below, equal to or above b (both valid quantities). */
export function compareQuantities(a: string, b: string): number {
  const x = parseQuantity(a)?.milli ?? 0n;
  const y = parseQuantity(b)?.milli ?? 0n;
  return x < y ? -1 : x > y ? 1 : 0;
}
