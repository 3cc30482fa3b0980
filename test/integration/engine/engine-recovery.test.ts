/**
 * Crashes and duplicates: the outbox and its durable "done" marks make a crash at any point, a
 * duplicated job or a late outcome end in the same state as an uninterrupted run.
 */
import { type Job, Queue } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { OutcomeEvent } from "../../../src/domain/effects.ts";
import { sameImage } from "../../../src/domain/image-reference.ts";
import { systemClock } from "../../../src/engine/core/clock.ts";
import { machineDecider, rolloutSettings } from "../../../src/engine/core/machine-decider.ts";
import { effectJobId, type OutboxEntry } from "../../../src/engine/core/outbox.ts";
import { Stepper } from "../../../src/engine/core/step.ts";
import { type EffectJobData, EffectQueue, effectQueueName } from "../../../src/engine/queue/effect-queue.ts";
import { processEffectJob } from "../../../src/engine/queue/effect-worker.ts";
import type { Engine } from "../../../src/engine/service/engine.ts";
import { engineKeys } from "../../../src/engine/store/keys.ts";
import { redisOptionsFromUrl } from "../../../src/engine/store/redis-connection.ts";
import { RolloutLock } from "../../../src/engine/store/rollout-lock.ts";
import { RolloutStore } from "../../../src/engine/store/rollout-store.ts";
import { FakeFleet, galleryVersion } from "./support/fake-fleet.ts";
import {
  alice,
  redisUrl,
  removeKeys,
  testConfig,
  testEngine,
  testLogger,
  testPrefix,
  testSpec,
  waitForPhase,
} from "./support/harness.ts";

const prefix = testPrefix();
const decider = machineDecider(rolloutSettings(testConfig(prefix).engine));
const engines: Engine[] = [];
const closers: (() => Promise<unknown>)[] = [];

function engineFor(fleet: FakeFleet): Engine {
  const engine = testEngine(prefix, fleet.execute);
  engines.push(engine);
  return engine;
}

/** The engine's parts, for driving one step by hand; `enqueue` replaces the queue's when given. */
function parts(enqueue?: (id: string, entries: OutboxEntry[]) => Promise<void>) {
  const redis = new Redis(redisUrl);
  const bull = new Queue(effectQueueName, {
    connection: { ...redisOptionsFromUrl(redisUrl), maxRetriesPerRequest: null },
    prefix,
  });
  closers.push(
    () => redis.quit(),
    () => bull.close(),
  );
  const keys = engineKeys(prefix);
  const store = new RolloutStore(redis, keys, decider.codec);
  const queue = new EffectQueue(bull, systemClock, { attempts: 3, timeScale: 1 });
  if (enqueue) queue.enqueue = enqueue;
  const stepper = new Stepper({
    store,
    lock: new RolloutLock(redis, { ttlMs: 5_000, waitMs: 5_000 }),
    keys,
    decider,
    queue,
    clock: systemClock,
    logger: testLogger,
  });
  return { store, stepper, bull, keys, redis };
}

afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.stop()));
  await Promise.all(closers.splice(0).map((close) => close()));
  await removeKeys(prefix);
});
afterAll(() => removeKeys(prefix));

const v100 = galleryVersion("1.0.0");
const v110 = galleryVersion("1.1.0");

function everyEffectStartedOnce(fleet: FakeFleet) {
  expect(fleet.startedTwice()).toEqual([]);
  expect([...fleet.upgradeStarts.values()].every((n) => n === 1)).toBe(true);
}

async function outcomeOf(fleet: FakeFleet, store: RolloutStore, id: string): Promise<OutcomeEvent> {
  const [entry] = await store.outboxEntries(id);
  if (!entry) throw new Error("nothing pending");
  return answer(fleet, id, entry);
}

/** Runs an effect on the fake fleet to its end, as the engine's worker would. */
async function answer(fleet: FakeFleet, id: string, entry: OutboxEntry): Promise<OutcomeEvent> {
  let progress: Record<string, unknown> | undefined;
  for (;;) {
    const step = await fleet.execute(entry.effect, {
      rolloutId: id,
      spec: testSpec(),
      now: () => new Date(),
      progress,
    });
    if (step.done)
      return { ...step.outcome, effectId: entry.effect.id, at: new Date().toISOString() } as OutcomeEvent;
    progress = step.progress;
  }
}

describe("the engine after a crash", () => {
  it("finishes a rollout whose step persisted but crashed before enqueueing, executing nothing twice", async () => {
    const fleet = new FakeFleet(["a", "b", "c"], v100);
    const api = engineFor(fleet); // an API process: no workers
    const view = await api.service.start(testSpec(), { actor: alice });
    const crashing = parts(async () => {
      throw new Error("process died after the commit");
    });
    const preflight = await outcomeOf(fleet, crashing.store, view.id);

    await expect(crashing.stepper.apply(view.id, preflight)).rejects.toThrow("process died");
    const pending = await crashing.store.outboxEntries(view.id);
    expect(pending.map((e) => e.effect.kind)).toContain("setModelImage");
    expect(await crashing.bull.getJob(effectJobId(view.id, pending[0]?.effect.id ?? ""))).toBeUndefined();

    // A new daemon: its recovery pass enqueues the outbox; the old preflight job finds its entry gone.
    const daemon = engineFor(fleet);
    await daemon.start();
    const done = await daemon.service.waitForTerminal(view.id, 20_000);

    expect(done.phase).toBe("completed");
    expect(fleet.callsOf("preflight")).toHaveLength(1);
    everyEffectStartedOnce(fleet);
    expect(fleet.imagesOf("c").instances.every((i) => sameImage(i, v110))).toBe(true);
  });

  it("finishes after its jobs were lost mid-bake, keeping the timer's deadline", async () => {
    const fleet = new FakeFleet(["a"], v100);
    const first = engineFor(fleet);
    await first.start();
    const spec = testSpec({ waves: [{ name: "only", scaleSets: [fleet.scaleSets[0]?.id ?? ""] }] });
    const view = await first.service.start(
      { ...spec, strategy: { ...spec.strategy, bakeSeconds: 1 } },
      { actor: alice },
    );
    const baking = await waitForPhase(first.service, view.id, ["baking"]);
    const bakeStartedAt = Date.parse(baking.updatedAt);
    await first.stop();
    const { bull } = parts();
    await bull.obliterate({ force: true });

    const second = engineFor(fleet);
    await second.start();
    const done = await second.service.waitForTerminal(view.id, 20_000);

    expect(done.phase).toBe("completed");
    const timeline = await second.service.timeline(view.id);
    const bakeCompleted = timeline.find((e) => e.type === "bake.completed");
    expect(Date.parse(bakeCompleted?.at ?? "") - bakeStartedAt).toBeGreaterThanOrEqual(990);
    everyEffectStartedOnce(fleet);
  });
});

describe("duplicates and late outcomes", () => {
  it("skips a duplicate job for an effect whose outcome was already applied", async () => {
    const fleet = new FakeFleet(["a", "b", "c"], v100);
    const engine = engineFor(fleet);
    await engine.start();
    const view = await engine.service.start(testSpec(), { actor: alice });
    await engine.service.waitForTerminal(view.id, 20_000);
    const callsBefore = fleet.calls.length;
    const revisionBefore = (await engine.service.get(view.id))?.revision;
    const timelineBefore = (await engine.service.timeline(view.id)).length;

    const { bull } = parts();
    const answered = [...new Set(fleet.calls.map((c) => c.effectId))];
    await bull.addBulk(
      answered.map((effectId) => ({
        name: "duplicate",
        data: { rolloutId: view.id, effectId },
        opts: { jobId: effectJobId(view.id, effectId), removeOnComplete: true },
      })),
    );
    const unfinished = async () =>
      Object.values(await bull.getJobCounts("wait", "active", "delayed", "failed"));
    await expect.poll(async () => (await unfinished()).reduce((a, b) => a + b, 0)).toBe(0);

    expect(fleet.calls.length).toBe(callsBefore);
    expect((await engine.service.timeline(view.id)).length).toBe(timelineBefore);
    expect((await engine.service.get(view.id))?.revision).toBe(revisionBefore);
  });

  it("records a repeated outcome in the timeline and ignores it: the revision does not move", async () => {
    const fleet = new FakeFleet(["a", "b", "c"], v100);
    const api = engineFor(fleet);
    const view = await api.service.start(testSpec(), { actor: alice });
    const { store, stepper } = parts(async () => {});
    const preflight = await outcomeOf(fleet, store, view.id);

    const applied = await stepper.apply(view.id, preflight);
    expect(applied.kind).toBe("applied");
    const revision = (await store.load(view.id))?.revision;
    const again = await stepper.apply(view.id, preflight);

    expect(again.kind).toBe("ignored");
    expect((await store.load(view.id))?.revision).toBe(revision);
    const last = (await store.timeline(view.id)).at(-1);
    expect(last).toMatchObject({ type: "event.ignored", data: { effectId: preflight.effectId } });
  });

  it("refuses a commit from a step that read an older revision (optimistic concurrency)", async () => {
    const fleet = new FakeFleet(["a"], v100);
    const api = engineFor(fleet);
    const view = await api.service.start(testSpec(), { actor: alice });
    const { store } = parts();
    const record = await store.load(view.id);
    if (!record) throw new Error("no record");
    const commit = (expectedRevision: number) =>
      store.commit({
        id: view.id,
        expectedRevision,
        previousPhase: record.phase,
        state: { ...record.state, revision: record.revision + 1 },
        phase: record.phase,
        terminal: false,
        updatedAt: new Date().toISOString(),
        claims: [],
        releases: [],
        outbox: [],
        timeline: [],
      });

    expect(await commit(record.revision)).toEqual({ kind: "ok" });
    expect(await commit(record.revision)).toEqual({ kind: "conflict", currentRevision: record.revision + 1 });
  });
});

describe("effects the machine cancelled", () => {
  it("are dropped without running when their job comes up after a rollback began", async () => {
    const fleet = new FakeFleet(["a"], v100);
    const api = engineFor(fleet);
    const spec = testSpec({ waves: [{ name: "only", scaleSets: [fleet.scaleSets[0]?.id ?? ""] }] });
    const view = await api.service.start(
      { ...spec, strategy: { ...spec.strategy, bakeSeconds: 600 } },
      { actor: alice },
    );
    const { store, stepper } = parts(async () => {});
    // Answer every effect by hand until the canary bakes: its timer is then the one pending effect.
    for (let step = 0; step < 20; step++) {
      const pending = await store.outboxEntries(view.id);
      if (pending.some((e) => e.effect.kind === "startTimer")) break;
      for (const entry of pending) await stepper.apply(view.id, await answer(fleet, view.id, entry));
    }
    const [bake] = await store.outboxEntries(view.id);
    expect(bake?.effect).toMatchObject({ kind: "startTimer", timer: "bake" });
    await api.service.act(view.id, "abort", alice, "wrong change window");
    // The step that cancelled it tidied its outbox entry and job away at once; a crash between the
    // commit and that tidying leaves the entry, which is what a job coming up then finds:
    expect(await store.outboxEntry(view.id, bake?.effect.id ?? "")).toBeUndefined();
    const crashed = parts();
    await crashed.redis.hset(crashed.keys.outbox(view.id), bake?.effect.id ?? "", JSON.stringify(bake));
    expect(await store.outboxEntry(view.id, bake?.effect.id ?? "")).toBeDefined();
    const timelineBefore = (await store.timeline(view.id)).length;

    // The bake's job comes up while the rollback runs.
    const job = {
      data: { rolloutId: view.id, effectId: bake?.effect.id },
      opts: { attempts: 3 },
      attemptsMade: 0,
    };
    const result = await processEffectJob(
      {
        store,
        stepper,
        decider,
        executeEffect: fleet.execute,
        clock: systemClock,
        logger: testLogger,
        timeScale: 1,
      },
      job as unknown as Job<EffectJobData>,
      undefined,
      undefined,
    );

    expect(result).toBe("skipped");
    expect(await store.outboxEntry(view.id, bake?.effect.id ?? "")).toBeUndefined();
    expect((await store.timeline(view.id)).length).toBe(timelineBefore);
    const worker = engineFor(fleet);
    await worker.start();
    expect((await worker.service.waitForTerminal(view.id, 20_000)).phase).toBe("rolledBack");
  });
});

describe("effects that keep failing", () => {
  it("answers effect.failed after the configured attempts, and keeps secrets out of the record", async () => {
    const fleet = new FakeFleet(["a", "b", "c"], v100);
    let modelWrites = 0;
    const engine = testEngine(prefix, async (effect, context) => {
      if (effect.kind === "setModelImage") {
        modelWrites += 1;
        // A connection reset: transient, so every configured attempt is made.
        throw Object.assign(
          new Error("PUT https://blob.example/x.log?sv=2024&sig=SECRETSIG failed: Bearer abc.def.ghi"),
          { code: "ECONNRESET" },
        );
      }
      return fleet.execute(effect, context);
    });
    engines.push(engine);
    await engine.start();

    const view = await engine.service.start(testSpec(), { actor: alice });
    const done = await engine.service.waitForTerminal(view.id, 20_000);

    expect(modelWrites).toBe(testConfig(prefix).engine.effectAttempts);
    expect(done.phase).not.toBe("completed");
    const record = JSON.stringify([
      await engine.service.timeline(view.id),
      await engine.service.deadLetters(view.id),
    ]);
    expect(record).not.toContain("SECRETSIG");
    expect(record).not.toContain("abc.def.ghi");
  });
});
