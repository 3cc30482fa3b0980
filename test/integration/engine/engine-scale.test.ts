/**
 * The engine's speed-ups at scale (docs/performance.md), on the real Redis and BullMQ, checked for
 * the properties that keep them safe: the snapshot cache never serves a stale revision (another
 * process's commit is seen at the next load), a rollback's effects run before every other job,
 * and an urgent step goes before the rollout's queued ones.
 */
import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { Effect } from "../../../src/domain/effects.ts";
import { systemClock } from "../../../src/engine/core/clock.ts";
import type { Decider, DescribedRollout, PersistedState } from "../../../src/engine/core/decider.ts";
import { outboxEntryFor } from "../../../src/engine/core/outbox.ts";
import { Stepper } from "../../../src/engine/core/step.ts";
import { EffectQueue, effectQueueName } from "../../../src/engine/queue/effect-queue.ts";
import type { Engine } from "../../../src/engine/service/engine.ts";
import { engineKeys } from "../../../src/engine/store/keys.ts";
import { redisOptionsFromUrl } from "../../../src/engine/store/redis-connection.ts";
import { RolloutLock } from "../../../src/engine/store/rollout-lock.ts";
import { RolloutStore } from "../../../src/engine/store/rollout-store.ts";
import { FakeFleet, galleryVersion } from "./support/fake-fleet.ts";
import {
  alice,
  latch,
  redisUrl,
  removeKeys,
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

function redis(): Redis {
  const client = new Redis(redisUrl);
  closers.push(() => client.quit());
  return client;
}

type Named = PersistedState & { context: { name: string } };

describe("the snapshot cache", () => {
  it("reuses the parsed snapshot at the same revision and reads another process's newer commit", async () => {
    const api = testEngine(prefix, new FakeFleet(["a", "b", "c"], galleryVersion("1.0.0")).execute);
    engines.push(api); // not started: the rollout stays at its first revision
    const view = await api.service.start(testSpec(), { actor: alice });
    const mine = new RolloutStore<Named>(redis(), engineKeys(prefix));
    const other = new RolloutStore<Named>(redis(), engineKeys(prefix));

    const first = await mine.load(view.id);
    if (!first) throw new Error("rollout not stored");
    expect((await mine.load(view.id))?.state).toBe(first.state);

    // Another process commits the next revision.
    const next: Named = {
      ...first.state,
      revision: first.revision + 1,
      context: { ...first.state.context, name: "renamed elsewhere" },
    };
    const committed = await other.commit({
      id: view.id,
      expectedRevision: first.revision,
      previousPhase: first.phase,
      state: next,
      phase: first.phase,
      terminal: false,
      updatedAt: new Date().toISOString(),
      claims: [],
      releases: [],
      outbox: [],
      timeline: [],
    });
    expect(committed).toEqual({ kind: "ok" });

    const seen = await mine.load(view.id);
    expect(seen?.revision).toBe(first.revision + 1);
    expect(seen?.state.context.name).toBe("renamed elsewhere");
  });
});

describe("the timeline cache", () => {
  it("reads only the new tail, sees another process's entries, and never repeats one", async () => {
    const api = testEngine(prefix, new FakeFleet(["a", "b", "c"], galleryVersion("1.0.0")).execute);
    engines.push(api); // not started: only the entries written here are added
    const view = await api.service.start(testSpec(), { actor: alice });
    const mine = new RolloutStore<Named>(redis(), engineKeys(prefix));
    const other = new RolloutStore<Named>(redis(), engineKeys(prefix));
    const line = (n: number) => ({
      at: new Date().toISOString(),
      actor: "test",
      type: "test.line",
      message: `line ${n}`,
    });

    const first = await mine.timeline(view.id);
    expect(first.length).toBeGreaterThan(0);
    await other.note(view.id, [line(1), line(2)]);
    // Two reads at once of the same new tail: each entry once, in order.
    const [a, b] = await Promise.all([mine.timeline(view.id), mine.timeline(view.id)]);
    await other.note(view.id, [line(3)]);
    const all = await mine.timeline(view.id);
    const direct = (await redis().lrange(engineKeys(prefix).timeline(view.id), 0, -1)).map((j) =>
      JSON.parse(j),
    );
    expect(all).toEqual(direct);
    expect(all.map((e) => e.seq)).toEqual(direct.map((_, i) => i + 1));
    expect(a).toEqual(direct.slice(0, -1));
    expect(b).toEqual(direct.slice(0, -1));
    expect(await mine.timeline(view.id, first.length + 1)).toEqual(direct.slice(first.length + 1));
  });
});

describe("rollback first", () => {
  it("runs a rollback's effect before jobs queued earlier", async () => {
    const connection = { ...redisOptionsFromUrl(redisUrl), maxRetriesPerRequest: null };
    const bull = new Queue(effectQueueName, { connection, prefix });
    closers.push(() => bull.close());
    const queue = new EffectQueue(bull, systemClock, { attempts: 1, timeScale: 1 });
    const now = new Date();
    const image = { id: "/img/1" };
    const observe = (id: string): Effect => ({
      kind: "observeScaleSet",
      id,
      scaleSetId: "a",
      knownInstanceIds: [],
    });
    const revert: Effect = {
      kind: "revertModel",
      id: "revert",
      scaleSetId: "a",
      previous: image,
      target: image,
    };
    await queue.enqueue(
      "r1",
      ["o1", "o2", "o3"].map((id) => outboxEntryFor(observe(id), 2, now)),
    );
    await queue.enqueue("r1", [outboxEntryFor(revert, 3, now)]);

    const order: string[] = [];
    const done = latch();
    const worker = new Worker(
      effectQueueName,
      async (job) => {
        order.push(String(job.data.effectId));
        if (order.length === 4) done.open();
      },
      { connection, prefix, concurrency: 1 },
    );
    closers.push(() => worker.close());
    await done.promise;
    expect(order[0]).toBe("revert");
    expect(order.slice(1)).toEqual(["o1", "o2", "o3"]);
  });

  it("starts an urgent step before the rollout's steps already waiting", async () => {
    const lock = new RolloutLock(redis(), { ttlMs: 5_000, waitMs: 5_000 });
    const key = `${prefix}:lock:r1`;
    const held = latch();
    const order: string[] = [];
    const first = lock.withLock(key, async () => {
      order.push("first");
      await held.promise;
    });
    const normal = lock.withLock(key, async () => {
      order.push("normal");
    });
    const urgent = lock.withLock(
      key,
      async () => {
        order.push("urgent");
      },
      { urgent: true },
    );
    held.open();
    await Promise.all([first, normal, urgent]);
    expect(order).toEqual(["first", "urgent", "normal"]);
  });
});

/** A machine that only records which outcomes it was given. */
type Tally = PersistedState & { pending: string[]; seen: string[] };
const tallyDecider: Decider<Tally> = {
  schemaVersion: 1,
  startRollout: () => {
    throw new Error("not used");
  },
  decide: (state, event) => {
    const effectId = "effectId" in event ? event.effectId : "";
    if (!state.pending.includes(effectId)) return { state, effects: [], timeline: [], ignored: "stale" };
    return {
      state: {
        ...state,
        revision: state.revision + 1,
        pending: state.pending.filter((e) => e !== effectId),
        seen: [...state.seen, effectId],
      },
      effects: [],
      timeline: [{ type: "seen", message: effectId, actor: "system" }],
    };
  },
  canApply: () => ({ ok: true }),
  describe: () => ({ phase: "promoting" }) as unknown as DescribedRollout,
  isTerminal: () => false,
  isPending: (state, effectId) => state.pending.includes(effectId),
  pendingEffectIds: (state) => state.pending,
  heldScaleSetIds: () => [],
};

describe("outcomes that wait for the rollout together", () => {
  it("are applied in one step: one commit, each its own revision, every outbox entry deleted", async () => {
    const keys = engineKeys(prefix);
    const store = new RolloutStore<Tally>(redis(), keys);
    const lock = new RolloutLock(redis(), { ttlMs: 5_000, waitMs: 5_000 });
    const bull = new Queue(effectQueueName, {
      connection: { ...redisOptionsFromUrl(redisUrl), maxRetriesPerRequest: null },
      prefix,
    });
    closers.push(() => bull.close());
    const now = new Date();
    const timer = (id: string): Effect => ({ kind: "startTimer", id, timer: "bake", delaySeconds: 60 });
    const ids = ["e1", "e2", "e3"];
    await store.create({
      id: "r1",
      state: { schemaVersion: 1, revision: 1, pending: ids, seen: [] },
      phase: "promoting",
      createdAt: now.toISOString(),
      createdBy: "alice",
      claims: [],
      targets: [],
      outbox: ids.map((id) => outboxEntryFor(timer(id), 1, now)),
      timeline: [],
    });
    let commits = 0;
    const commit = store.commit.bind(store);
    store.commit = (input) => {
      commits += 1;
      return commit(input);
    };
    const stepper = new Stepper<Tally>({
      store,
      lock,
      keys,
      decider: tallyDecider,
      queue: new EffectQueue(bull, systemClock, { attempts: 1, timeScale: 1 }),
      clock: systemClock,
      logger: testLogger,
    });

    // Another step holds the rollout while the three outcomes arrive.
    const held = latch();
    const busy = lock.withLock(keys.lock("r1"), () => held.promise);
    const results = ids.map((effectId) =>
      stepper.apply("r1", { type: "timer.fired", timer: "bake", effectId, at: now.toISOString() }),
    );
    held.open();
    await busy;
    const answered = await Promise.all(results);

    expect(answered.map((r) => r.kind)).toEqual(["applied", "applied", "applied"]);
    expect(commits).toBe(1);
    const record = await store.load("r1");
    expect(record?.revision).toBe(4);
    expect(record?.state.seen).toEqual(ids);
    expect(await store.outboxEntries("r1")).toEqual([]);
    expect((await store.timeline("r1")).map((e) => e.message)).toEqual(ids);
  });

  it("each get the step's error when it fails, and nothing is left waiting", async () => {
    const keys = engineKeys(prefix);
    const lock = new RolloutLock(redis(), { ttlMs: 5_000, waitMs: 5_000 });
    const bull = new Queue(effectQueueName, {
      connection: { ...redisOptionsFromUrl(redisUrl), maxRetriesPerRequest: null },
      prefix,
    });
    closers.push(() => bull.close());
    const stepper = new Stepper<Tally>({
      store: new RolloutStore<Tally>(redis(), keys),
      lock,
      keys,
      decider: tallyDecider,
      queue: new EffectQueue(bull, systemClock, { attempts: 1, timeScale: 1 }),
      clock: systemClock,
      logger: testLogger,
    });
    const held = latch();
    const busy = lock.withLock(keys.lock("gone"), () => held.promise);
    const at = new Date().toISOString();
    const results = ["e1", "e2"].map((effectId) =>
      stepper.apply("gone", { type: "timer.fired", timer: "bake", effectId, at }).then(
        () => "applied",
        (error: { code?: string }) => error.code,
      ),
    );
    held.open();
    await busy;
    expect(await Promise.all(results)).toEqual(["ROLLOUT_NOT_FOUND", "ROLLOUT_NOT_FOUND"]);
  });
});
