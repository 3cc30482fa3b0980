/** Configuration shared by the kill tests and the engine processes they kill. */
import type { Config } from "../../../../src/config/schema.ts";
import type { EngineTiming } from "../../../../src/engine/engine.ts";

export function simulatorEngineConfig(prefix: string, redisUrl: string): Pick<Config, "redis" | "engine"> {
  return {
    redis: { url: redisUrl, clusterNodes: [], keyPrefix: prefix, privateDataDir: "var/redis" },
    engine: {
      workerConcurrency: 8,
      maxParallelScaleSets: 4,
      pollIntervalSeconds: 1,
      gateRetrySeconds: 30,
      inconclusiveTimeoutSeconds: 600,
      replicationPollSeconds: 30,
      replicationTimeoutSeconds: 3600,
      upgradeTimeoutSeconds: 1800,
      effectAttempts: 5,
      retryBackoffSeconds: 1,
      jobLockSeconds: 30,
      stalledCheckSeconds: 30,
      recoverySweepSeconds: 15,
      stepLockSeconds: 15,
      allowLatestFor: [],
    },
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
