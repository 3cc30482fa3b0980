import { defineConfig } from "vitest/config";

// Two layers: unit tests need no services; integration tests talk to a real Redis
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
    ],
  },
});
