import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // The JSON report is what .ci/run counts; the default reporter is what people read.
    reporters: ["default", ["json", { outputFile: ".vitest-results.json" }]],
    // Removes the temporary directories (some hold CA keys) each test file made in hooks.
    setupFiles: ["test/support/remove-temp-dirs.ts"],
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["test/**/*.test.ts"],
          exclude: ["test/e2e/**"],
          testTimeout: 20_000,
          // Groups run one after another, lowest first: every unit file finishes before the
          // first e2e file starts, so e2e bounds never compete with unit workers.
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          globalSetup: ["test/e2e/support/global-setup.ts"],
          // One control plane for the whole run; its test files share it one at a time.
          fileParallelism: false,
          sequence: { groupOrder: 2 },
          testTimeout: 180_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
