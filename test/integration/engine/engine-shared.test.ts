/** Several daemon processes on one Redis: shared work, a live timeline and waits that outlive a restart. */
import { Queue } from "bullmq";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { TimelineEntry } from "../../../src/domain/rollout-view.ts";
import type { ExecuteEffect } from "../../../src/effects/effect-executor.ts";
import { effectJobId } from "../../../src/engine/core/outbox.ts";
import { effectQueueName } from "../../../src/engine/queue/effect-queue.ts";
import type { Engine } from "../../../src/engine/service/engine.ts";
import { redisOptionsFromUrl } from "../../../src/engine/store/redis-connection.ts";
import { FakeFleet, galleryVersion, scaleSetId } from "./support/fake-fleet.ts";
import {
  alice,
  redisUrl,
  removeKeys,
  testConfig,
  testEngine,
  testPrefix,
  testSpec,
  waitForPhase,
} from "./support/harness.ts";

const prefix = testPrefix();
const engines: Engine[] = [];

function engineWith(execute: ExecuteEffect, concurrency = 8): Engine {
  const config = testConfig(prefix);
  config.engine.workerConcurrency = concurrency;
  const engine = testEngine(prefix, execute, { config });
  engines.push(engine);
  return engine;
}

afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.stop()));
  await removeKeys(prefix);
});
afterAll(() => removeKeys(prefix));

const v100 = galleryVersion("1.0.0");
const oneScaleSet = (name: string) =>
  testSpec({ name, waves: [{ name: "only", scaleSets: [scaleSetId(name)] }] });

describe("two daemons on one Redis", () => {
  it("share the effects of concurrent rollouts and finish them all, each effect once", async () => {
    const fleet = new FakeFleet(["a", "b", "c", "d"], v100);
    const ran = { first: 0, second: 0 };
    // A little latency per call, one job at a time each: both workers must take part.
    const tagged =
      (who: keyof typeof ran): ExecuteEffect =>
      async (effect, context) => {
        ran[who] += 1;
        await new Promise((r) => setTimeout(r, 15));
        return fleet.execute(effect, context);
      };
    const first = engineWith(tagged("first"), 1);
    const second = engineWith(tagged("second"), 1);
    await Promise.all([first.start(), second.start()]);

    const views = await Promise.all(
      ["a", "b", "c", "d"].map((n) => first.service.start(oneScaleSet(n), { actor: alice })),
    );
    const done = await Promise.all(views.map((v) => second.service.waitForTerminal(v.id, 30_000)));

    expect(done.map((v) => v.phase)).toEqual(["completed", "completed", "completed", "completed"]);
    expect(ran.first).toBeGreaterThan(0);
    expect(ran.second).toBeGreaterThan(0);
    expect(fleet.startedTwice()).toEqual([]);
    expect([...fleet.upgradeStarts.values()].every((n) => n === 1)).toBe(true);
  });

  it("stream each timeline entry to a subscriber in another process", async () => {
    const fleet = new FakeFleet(["a"], v100);
    const worker = engineWith(fleet.execute);
    const api = engineWith(fleet.execute);
    await worker.start();
    const view = await api.service.start(oneScaleSet("a"), { actor: alice });
    const seen: TimelineEntry[] = [];
    const unsubscribe = await api.service.subscribe(view.id, (e) => seen.push(e));

    await api.service.waitForTerminal(view.id, 20_000);
    await unsubscribe();

    const stored = await api.service.timeline(view.id);
    expect(seen.length).toBeGreaterThan(3);
    expect(seen).toEqual(stored.slice(stored.length - seen.length));
    expect(seen.at(-1)?.type).toBe("rollout.completed");
  });
});

describe("waiting for the end", () => {
  it("learns the terminal phase although the worker daemon restarted meanwhile (invariant 5)", async () => {
    const fleet = new FakeFleet(["a"], v100);
    const api = engineWith(fleet.execute);
    const before = engineWith(fleet.execute);
    await before.start();
    const spec = oneScaleSet("a");
    const view = await api.service.start(
      { ...spec, strategy: { ...spec.strategy, bakeSeconds: 1 } },
      { actor: alice },
    );
    const waiting = api.service.waitForTerminal(view.id, 30_000);

    await waitForPhase(api.service, view.id, ["baking"]);
    await before.stop();
    const after = engineWith(fleet.execute);
    await after.start();

    expect((await waiting).phase).toBe("completed");
  });

  it("resolves with the current state when the timeout passes first", async () => {
    const api = engineWith(new FakeFleet(["a"], v100).execute);
    const view = await api.service.start(oneScaleSet("a"), { actor: alice });
    const started = Date.now();
    const current = await api.service.waitForTerminal(view.id, 300);
    expect(current.id).toBe(view.id);
    expect(current.phase).not.toBe("completed");
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it("stops waiting when the caller aborts", async () => {
    const api = engineWith(new FakeFleet(["a"], v100).execute);
    const view = await api.service.start(oneScaleSet("a"), { actor: alice });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();
    const current = await api.service.waitForTerminal(view.id, 30_000, controller.signal);
    expect(current.phase).toBe(view.phase);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe("an accelerated clock (a demo against the time-compressed simulator)", () => {
  it("is shared by the engines on one Redis: a later process never stamps earlier times", async () => {
    const fleet = new FakeFleet([], v100);
    const accelerated = { ...testConfig(prefix) };
    const first = testEngine(prefix, fleet.execute, { config: accelerated, timing: { timeScale: 60 } });
    engines.push(first);
    await first.start();
    await new Promise((r) => setTimeout(r, 300));
    const second = testEngine(prefix, fleet.execute, { config: accelerated, timing: { timeScale: 60 } });
    engines.push(second);

    const wallBefore = Date.now();
    const one = await first.service.start(oneScaleSet("p"), { actor: alice });
    const two = await second.service.start(oneScaleSet("q"), { actor: alice });
    const wallElapsed = Date.now() - wallBefore;

    // Unshared, the second clock would run 59 x 300 ms = 17.7 s behind the first.
    expect(Date.parse(two.createdAt)).toBeGreaterThanOrEqual(Date.parse(one.createdAt));
    // Nor ahead of it: the gap is what the shared accelerated clock made of the wall time between them.
    expect(Date.parse(two.createdAt) - Date.parse(one.createdAt)).toBeLessThanOrEqual(wallElapsed * 60 + 60);
  });
});

describe("timers", () => {
  it("are delayed jobs: a bake waits in the queue's delayed set, not in a process", async () => {
    const fleet = new FakeFleet(["a"], v100);
    const engine = engineWith(fleet.execute);
    await engine.start();
    const spec = oneScaleSet("a");
    const view = await engine.service.start(
      { ...spec, strategy: { ...spec.strategy, bakeSeconds: 2 } },
      { actor: alice },
    );
    await waitForPhase(engine.service, view.id, ["baking"]);

    const queue = new Queue(effectQueueName, {
      connection: { ...redisOptionsFromUrl(redisUrl), maxRetriesPerRequest: null },
      prefix,
    });
    try {
      const delayed = await queue.getDelayed();
      const bake = delayed.find((j) => j.name === "startTimer" && j.data.rolloutId === view.id);
      expect(bake?.id).toBe(effectJobId(view.id, bake?.data.effectId ?? ""));
      expect(bake?.opts.delay).toBeGreaterThan(1_000);
    } finally {
      await queue.close();
    }
    expect((await engine.service.waitForTerminal(view.id, 20_000)).phase).toBe("completed");
  });
});

describe("user actions", () => {
  it("pause holds the rollout and resume lets it finish; both are in the release record", async () => {
    const fleet = new FakeFleet(["a", "b", "c"], v100);
    const engine = engineWith(fleet.execute);
    await engine.start();
    const spec = testSpec();
    const view = await engine.service.start(
      { ...spec, strategy: { ...spec.strategy, bakeSeconds: 1 } },
      { actor: alice },
    );
    await waitForPhase(engine.service, view.id, ["baking"]);

    const paused = await engine.service.act(view.id, "pause", { id: "oncall" }, "looking at graphs");
    expect(paused.phase).toBe("paused");
    await expect(engine.service.act(view.id, "pause", alice)).rejects.toMatchObject({
      code: "ACTION_NOT_ALLOWED",
    });
    await engine.service.act(view.id, "resume", { id: "oncall" });
    const done = await engine.service.waitForTerminal(view.id, 20_000);

    expect(done.phase).toBe("completed");
    const actors = (await engine.service.timeline(view.id)).filter((e) => e.actor === "oncall");
    expect(actors.length).toBeGreaterThanOrEqual(2);
  });

  it("reports ready while Redis answers and the workers run", async () => {
    const engine = engineWith(new FakeFleet([], v100).execute);
    expect(await engine.service.ready()).toEqual({ ready: false, checks: { redis: true, workers: false } });
    await engine.start();
    expect(await engine.service.ready()).toEqual({ ready: true, checks: { redis: true, workers: true } });
  });
});
