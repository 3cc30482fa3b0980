import { defineConfig } from "vitest/config";

// Unit tests need no services; integration and reliability tests talk to a real Redis and to the
// simulator through the real Azure SDKs. The Redis is REDIS_URL, else the one on 127.0.0.1:6379,
// else a private redis-server that test/support/global-redis.ts starts and stops around the run.
export default defineConfig({
  test: {
    globalSetup: ["test/support/global-tmp.ts", "test/support/global-redis.ts"],
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
