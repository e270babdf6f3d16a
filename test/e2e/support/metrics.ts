// Reading prepull's Prometheus text exposition: sums of one metric's samples whose labels match.

export type LabelFilter = Record<string, string>;

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const match of text.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
    const [, key, value] = match;
    if (key !== undefined && value !== undefined) labels[key] = value.replace(/\\(.)/g, "$1");
  }
  return labels;
}

function parseSamples(exposition: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of exposition.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const [, name, labels, value] = match;
    if (name === undefined || value === undefined) continue;
    samples.push({ name, labels: parseLabels(labels ?? ""), value: Number(value) });
  }
  return samples;
}

/** The sum of every sample of `name` whose labels include all of `filter`. */
export function sumOf(exposition: string, name: string, filter: LabelFilter = {}): number {
  return parseSamples(exposition)
    .filter((s) => s.name === name && Object.entries(filter).every(([k, v]) => s.labels[k] === v))
    .reduce((total, s) => total + s.value, 0);
}
