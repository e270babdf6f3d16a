// Progress lines with the time elapsed since the command started, on stderr so stdout stays
// machine-readable (the kubeconfig path).

export interface Progress {
  (message: string): void;
  elapsedSeconds(): number;
}

export function progress(
  label: string,
  write: (line: string) => void = (line) => process.stderr.write(line),
): Progress {
  const start = performance.now();
  const elapsedSeconds = () => (performance.now() - start) / 1000;
  const log = (message: string) =>
    write(`[${label} +${elapsedSeconds().toFixed(1).padStart(5)}s] ${message}\n`);
  return Object.assign(log, { elapsedSeconds });
}

/** A progress sink that prints nothing (for callers that want the plane quietly). */
export function silentProgress(): Progress {
  return progress("", () => {});
}
