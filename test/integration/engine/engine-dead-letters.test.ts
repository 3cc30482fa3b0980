/**
 * Dead letters, on the real Redis and BullMQ: an effect that fails permanently is attempted once,
 * lands in the rollout's dead-letter list and is never run again, not by a retry and not by the
 * recovery sweep; a transient failure is retried (and counted) before it gives up.
 */
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { AzureAdapterError } from "../../../src/azure/errors.ts";
import type { DeadLetter } from "../../../src/domain/rollout-view.ts";
import { systemClock } from "../../../src/engine/core/clock.ts";
import type { OutboxEntry } from "../../../src/engine/core/outbox.ts";
import { EffectQueue, effectQueueName } from "../../../src/engine/queue/effect-queue.ts";
import type { EffectFailureMetrics } from "../../../src/engine/queue/effect-worker.ts";
import type { Engine } from "../../../src/engine/service/engine.ts";
import { recoverOutbox } from "../../../src/engine/service/recovery.ts";
import { engineKeys } from "../../../src/engine/store/keys.ts";
import { redisOptionsFromUrl } from "../../../src/engine/store/redis-connection.ts";
import { RolloutStore } from "../../../src/engine/store/rollout-store.ts";
import { FakeFleet, galleryVersion, scaleSetId } from "./support/fake-fleet.ts";
import {
  alice,
  fastTiming,
  redisUrl,
  removeKeys,
  testConfig,
  testEngine,
  testLogger,
  testPrefix,
  testSpec,
} from "./support/harness.ts";

const prefix = testPrefix();
const engines: Engine[] = [];
const closers: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.stop()));
  await Promise.all(closers.splice(0).map((close) => close()));
  await removeKeys(prefix);
});
afterAll(() => removeKeys(prefix));

const v100 = galleryVersion("1.0.0");

/** Records what the engine counted. */
function countingMetrics(): EffectFailureMetrics & { retried: string[]; dead: string[] } {
  const retried: string[] = [];
  const dead: string[] = [];
  return {
    retried,
    dead,
    effectRetried: (kind, errorClass) => retried.push(`${kind}/${errorClass}`),
    effectDeadLettered: (kind, errorClass) => dead.push(`${kind}/${errorClass}`),
  };
}

const forbidden = () =>
  new AzureAdapterError("AZURE_403", "writing the model of a: AuthorizationFailed: no write permission", {
    statusCode: 403,
    azureCode: "AuthorizationFailed",
  });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("an effect that fails permanently", () => {
  it("is attempted once (not effectAttempts times), dead-lettered, answered as effect.failed, never re-run", async () => {
    const fleet = new FakeFleet(["a", "b", "c"], v100);
    const metrics = countingMetrics();
    const writesOfA: string[] = [];
    const engine = testEngine(
      prefix,
      async (effect, context) => {
        if (effect.kind === "setModelImage" && effect.scaleSetId === scaleSetId("a")) {
          writesOfA.push(effect.id);
          throw forbidden();
        }
        return fleet.execute(effect, context);
      },
      { metrics },
    );
    engines.push(engine);
    await engine.start();

    const view = await engine.service.start(testSpec(), { actor: alice });
    const done = await engine.service.waitForTerminal(view.id, 20_000);
    // Several recovery sweeps pass: none may run the write again.
    await sleep((fastTiming.recoveryIntervalMs ?? 500) * 3);

    expect(testConfig(prefix).engine.effectAttempts).toBeGreaterThan(1);
    expect(writesOfA).toHaveLength(1);
    expect(done.phase).not.toBe("completed");
    const letters = await engine.service.deadLetters(view.id);
    expect(letters).toEqual([
      {
        rolloutId: view.id,
        effectId: writesOfA[0],
        kind: "setModelImage",
        scaleSetId: scaleSetId("a"),
        reason: "writing the model of a: AuthorizationFailed: no write permission",
        code: "AZURE_403",
        attempts: 1,
        transient: false,
        at: expect.any(String),
      },
    ]);
    expect(metrics.dead).toEqual(["setModelImage/permanent"]);
    expect(metrics.retried).toEqual([]);
    const failed = (await engine.service.timeline(view.id)).find((e) => e.type === "effect.failed");
    expect(failed?.message).toContain("AuthorizationFailed");
  });
});

describe("an effect that fails transiently", () => {
  it("is retried, each retry counted, and succeeds without a dead letter", async () => {
    const fleet = new FakeFleet(["a", "b", "c"], v100);
    const metrics = countingMetrics();
    let failures = 2;
    const engine = testEngine(
      prefix,
      async (effect, context) => {
        if (effect.kind === "setModelImage" && failures > 0) {
          failures -= 1;
          throw new AzureAdapterError("AZURE_503", "writing the model: ServiceUnavailable", {
            statusCode: 503,
            transient: true,
          });
        }
        return fleet.execute(effect, context);
      },
      { metrics },
    );
    engines.push(engine);
    await engine.start();

    const view = await engine.service.start(testSpec(), { actor: alice });
    const done = await engine.service.waitForTerminal(view.id, 20_000);

    expect(done.phase).toBe("completed");
    expect(metrics.retried).toEqual(["setModelImage/transient", "setModelImage/transient"]);
    expect(await engine.service.deadLetters(view.id)).toEqual([]);
  });
});

describe("a dead-lettered effect still in the outbox (the answering step failed)", () => {
  it("is answered by the recovery pass from its dead letter and never re-queued", async () => {
    const redis = new Redis(redisUrl);
    const bull = new Queue(effectQueueName, {
      connection: { ...redisOptionsFromUrl(redisUrl), maxRetriesPerRequest: null },
      prefix,
    });
    closers.push(
      () => redis.quit(),
      () => bull.close(),
    );
    const store = new RolloutStore(redis, engineKeys(prefix));
    const fleet = new FakeFleet(["a", "b", "c"], v100);
    const api = testEngine(prefix, fleet.execute); // not started: no workers run the preflight
    engines.push(api);
    const view = await api.service.start(testSpec(), { actor: alice });
    const [preflight] = await store.outboxEntries(view.id);
    if (!preflight) throw new Error("no preflight pending");
    const letter: DeadLetter = {
      rolloutId: view.id,
      effectId: preflight.effect.id,
      kind: preflight.effect.kind,
      reason: "reading the fleet: AuthorizationFailed",
      code: "AZURE_403",
      attempts: 1,
      transient: false,
      at: new Date().toISOString(),
    };
    await store.addDeadLetter(letter);

    const queue = new EffectQueue(bull, systemClock, { attempts: 3, timeScale: 1 });
    const enqueued: OutboxEntry[] = [];
    queue.enqueue = async (_id, entries) => {
      enqueued.push(...entries);
    };
    const answered: DeadLetter[] = [];
    for (let pass = 0; pass < 3; pass += 1)
      await recoverOutbox(store, queue, testLogger, async (l) => {
        answered.push(l);
      });

    expect(enqueued.map((e) => e.effect.id)).not.toContain(preflight.effect.id);
    expect(answered).toEqual([letter, letter, letter]);

    // A daemon: its recovery answers the dead letter; the preflight never runs.
    const daemon = testEngine(prefix, fleet.execute);
    engines.push(daemon);
    await daemon.start();
    const done = await daemon.service.waitForTerminal(view.id, 20_000);
    expect(fleet.callsOf("preflight")).toEqual([]);
    expect(done.phase).toBe("rejected");
  });
});
