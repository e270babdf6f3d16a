// Prints the configuration table of src/config.ts as Markdown, for the README:
// `node scripts/settings-table.ts`. test/docs/readme.test.ts keeps the README in step with it.
import { settingsTable } from "../src/config.ts";

function cell(text: string): string {
  return text.replaceAll("|", "\\|");
}

export function settingsMarkdown(): string {
  const rows = settingsTable().map(
    (row) =>
      `| \`${row.name}\` | \`${row.flag}\` | ${row.default === undefined || row.default === "" ? "" : `\`${cell(row.default)}\``} | ${cell(row.description)} |`,
  );
  return ["| variable | flag | default | meaning |", "|---|---|---|---|", ...rows].join("\n");
}

if (import.meta.main) process.stdout.write(`${settingsMarkdown()}\n`);
