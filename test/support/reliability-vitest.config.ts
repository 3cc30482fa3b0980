/**
 * Runs the reliability suites (test/reliability/**) until the project's vitest config has a
 * project for them: `npx vitest run --config test/support/reliability-vitest.config.ts`.
 */
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/reliability/**/*.test.ts"],
    testTimeout: 90_000,
    hookTimeout: 60_000,
  },
});
