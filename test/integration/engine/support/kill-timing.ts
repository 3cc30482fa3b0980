/** Configuration shared by the kill tests and the engine processes they kill. */

import type { Config } from "../../../../src/config/schema.ts";
import type { EngineTiming } from "../../../../src/engine/service/engine.ts";
import { defaultConfig } from "../../../support/default-config.ts";

export function simulatorEngineConfig(prefix: string, redisUrl: string): Pick<Config, "redis" | "engine"> {
  return {
    redis: { ...defaultConfig.redis, url: redisUrl, keyPrefix: prefix },
    engine: { ...defaultConfig.engine, workerConcurrency: 8, pollIntervalSeconds: 1 },
  };
}

/** A killed process's jobs are taken over within about a second; timers run 60 times faster. */
export const killTestTiming: Partial<EngineTiming> = {
  timeScale: 60,
  jobLockMs: 1_000,
  stalledIntervalMs: 500,
  recoveryIntervalMs: 500,
  retryBackoffMs: 100,
  stepLockTtlMs: 2_000,
  stepLockWaitMs: 3_000,
  waitRecheckMs: 500,
};
