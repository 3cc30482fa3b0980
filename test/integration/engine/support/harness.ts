/** Shared set-up for engine tests: an isolated key prefix on the real Redis, fast timings, a spec. */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { pino } from "pino";
import type { Config } from "../../../../src/config/schema.ts";
import type { RolloutPhase, RolloutView } from "../../../../src/domain/rollout-view.ts";
import { type RolloutSpec, type RolloutSpecInput, rolloutSpecSchema } from "../../../../src/domain/spec.ts";
import type { ExecuteEffect } from "../../../../src/effects/effect-executor.ts";
import {
  createEngine,
  type Engine,
  type EngineOptions,
  type EngineTiming,
} from "../../../../src/engine/service/engine.ts";
import type { RolloutService } from "../../../../src/engine/service/rollout-service.ts";
import { defaultConfig } from "../../../support/default-config.ts";
import { galleryVersion, scaleSetId } from "./fake-fleet.ts";

export const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

export const testLogger = pino({ level: process.env.LOG_LEVEL ?? "silent" });

/** A hash-tagged prefix of its own, so test files run in parallel on one Redis. */
export function testPrefix(): string {
  return `{cdtest-${randomBytes(5).toString("hex")}}`;
}

export function testConfig(prefix: string): Pick<Config, "redis" | "engine"> {
  return {
    redis: { ...defaultConfig.redis, url: redisUrl, keyPrefix: prefix },
    engine: {
      ...defaultConfig.engine,
      workerConcurrency: 8,
      pollIntervalSeconds: 0,
      gateRetrySeconds: 0,
      inconclusiveTimeoutSeconds: 0,
      replicationPollSeconds: 0,
      replicationTimeoutSeconds: 0,
      upgradeTimeoutSeconds: 60,
      effectAttempts: 3,
    },
  };
}

export const fastTiming: Partial<EngineTiming> = {
  jobLockMs: 2_000,
  stalledIntervalMs: 1_000,
  recoveryIntervalMs: 500,
  retryBackoffMs: 10,
  stopGraceMs: 2_000,
  waitRecheckMs: 500,
};

export function testEngine(
  prefix: string,
  executeEffect: ExecuteEffect,
  extra: Partial<EngineOptions> = {},
): Engine {
  return createEngine({
    redisUrl,
    config: testConfig(prefix),
    executeEffect,
    logger: testLogger,
    timing: fastTiming,
    ...extra,
  });
}

/** Two waves over scale sets named a, b, c; no bake unless asked. */
export function testSpec(overrides: Partial<RolloutSpecInput> = {}): RolloutSpec {
  return rolloutSpecSchema.parse({
    name: "web-1.1.0",
    image: { galleryImageVersionId: galleryVersion("1.1.0").id },
    waves: [
      { name: "first", scaleSets: [scaleSetId("a")] },
      { name: "rest", scaleSets: [scaleSetId("b"), scaleSetId("c")] },
    ],
    strategy: { canary: { instances: 1 }, batchPercent: 50, bakeSeconds: 0, maxParallelScaleSets: 2 },
    gates: [{ kind: "instanceHealth" }],
    ...overrides,
  });
}

export const alice = { id: "alice", role: "deployer" };

/** Resolves once the rollout shows the phase, woken by its timeline rather than by polling. */
export async function waitForPhase(
  service: RolloutService,
  id: string,
  phases: RolloutPhase[],
  timeoutMs = 10_000,
): Promise<RolloutView> {
  let wake = () => {};
  const unsubscribe = await service.subscribe(id, () => wake());
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const view = await service.get(id);
      if (view && phases.includes(view.phase)) return view;
      if (Date.now() > deadline)
        throw new Error(`rollout ${id} never reached ${phases.join("|")} (is ${view?.phase})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 200);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    await unsubscribe();
  }
}

/** Deletes every key of the prefix (the engine's and BullMQ's, queue shards' included: queue/queue-shards.ts). */
export async function removeKeys(prefix: string): Promise<void> {
  const redis = new Redis(redisUrl);
  const patterns = [`${prefix}*`, prefix.endsWith("}") ? `${prefix.slice(0, -1)}-q*` : `${prefix}-q*`];
  try {
    for (const pattern of patterns) {
      let cursor = "0";
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 500);
        cursor = next;
        if (keys.length > 0) await redis.del(...keys);
      } while (cursor !== "0");
    }
  } finally {
    redis.quit();
  }
}

/** A gate a test opens when it wants the held effect to proceed. */
export function latch(): { promise: Promise<void>; open: () => void } {
  let open = () => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}
