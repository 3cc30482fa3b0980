/** With Redis unreachable, callers get a coded 503 quickly, and /readyz says not ready. */
import { afterAll, describe, expect, it } from "vitest";
import { createEngine } from "../../../src/engine/service/engine.ts";
import { FakeFleet, galleryVersion } from "./support/fake-fleet.ts";
import { fastTiming, testConfig, testLogger, testPrefix } from "./support/harness.ts";

// Port 1 is never a Redis: connections are refused at once.
const engine = createEngine({
  redisUrl: "redis://127.0.0.1:1",
  config: testConfig(testPrefix()),
  executeEffect: new FakeFleet([], galleryVersion("1.0.0")).execute,
  logger: testLogger,
  timing: fastTiming,
});
afterAll(() => engine.stop());

describe("an engine whose Redis is down", () => {
  it("answers STORE_UNAVAILABLE (503) instead of a bare connection error", async () => {
    await expect(engine.service.get("ro-x")).rejects.toMatchObject({
      code: "STORE_UNAVAILABLE",
      statusCode: 503,
    });
  });

  it("reports not ready within a second", async () => {
    const started = Date.now();
    expect(await engine.service.ready()).toEqual({ ready: false, checks: { redis: false, workers: false } });
    expect(Date.now() - started).toBeLessThan(1_500);
  });
});
