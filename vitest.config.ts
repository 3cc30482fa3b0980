import { defineConfig } from "vitest/config";

// Unit tests need no services; integration and reliability tests talk to a real Redis
// (REDIS_URL, default 127.0.0.1:6379) and to the simulator through the real Azure SDKs.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts", "test/e2e/**/*.test.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        // Crashes, Redis loss, Azure faults, bad input and security: CI-sized here; `npm run soak` for more.
        test: {
          name: "reliability",
          include: ["test/reliability/**/*.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
