// The only arithmetic the bench reports: medians of paired ratios. Each round measures every
// server back to back, so a ratio within a round shares that moment's machine load; the median
// over rounds drops a round that a neighbour's burst spoiled.
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/** median over rounds of subject[i] / control[i] */
export function pairedRatio(subject: readonly number[], control: readonly number[]): number {
  if (subject.length !== control.length) throw new Error("paired ratio needs one control per round");
  return median(subject.map((value, index) => value / (control[index] ?? Number.NaN)));
}

/** Rounds alternate who goes first: round r starts with the r-th server. */
export function rotate<T>(items: readonly T[], round: number): T[] {
  const shift = round % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}
