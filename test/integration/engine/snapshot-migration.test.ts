/**
 * The snapshot's layout in Redis (machines/snapshot-codec.ts, schema 3: a header and one field per
 * scale set), against the previous release's (schema 2: the whole snapshot in `state`). A record
 * the previous release wrote is read and carried on by this one, and rewritten in the new layout
 * at its next commit; a record of a version this canaryd does not know is refused with its
 * version, never stepped.
 */
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { machineDecider, rolloutSettings } from "../../../src/engine/core/machine-decider.ts";
import type { Engine } from "../../../src/engine/service/engine.ts";
import { engineKeys } from "../../../src/engine/store/keys.ts";
import { RolloutStore } from "../../../src/engine/store/rollout-store.ts";
import { FakeFleet, galleryVersion } from "./support/fake-fleet.ts";
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

// One prefix per test: each holds the same scale sets (a, b, c) with its own rollout.
const prefixes: string[] = [];
const decider = machineDecider(rolloutSettings(testConfig(testPrefix()).engine));
const redis = new Redis(redisUrl);
const engines: Engine[] = [];

afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.stop()));
});
afterAll(async () => {
  for (const prefix of prefixes) await removeKeys(prefix);
  await redis.quit();
});

function freshPrefix() {
  const prefix = testPrefix();
  prefixes.push(prefix);
  return { prefix, keys: engineKeys(prefix) };
}

function started(prefix: string, fleet: FakeFleet): Engine {
  const engine = testEngine(prefix, fleet.execute);
  engines.push(engine);
  return engine;
}

/** Rolls one rollout to its approval hold: every scale set has a progress record by then. */
async function heldForApproval(prefix: string, fleet: FakeFleet): Promise<string> {
  const engine = started(prefix, fleet);
  await engine.start();
  const view = await engine.service.start(
    testSpec({ strategy: { ...testSpec().strategy, approval: "afterCanary" } }),
    {
      actor: alice,
    },
  );
  await waitForPhase(engine.service, view.id, ["awaitingApproval"]);
  await engine.stop();
  engines.splice(engines.indexOf(engine), 1);
  return view.id;
}

const partFields = (fields: Record<string, string>) =>
  Object.keys(fields).filter((f) => f.startsWith("ss:") || f === "spec");

describe("snapshot layout across releases", () => {
  it("stores a header without scale sets and one field per scale set", async () => {
    const { prefix, keys } = freshPrefix();
    const id = await heldForApproval(prefix, new FakeFleet(["a", "b", "c"], galleryVersion("1.0.0")));
    const fields = await redis.hgetall(keys.rollout(id));
    const header = JSON.parse(fields.state ?? "{}");
    expect(header.schemaVersion).toBe(3);
    expect(header.context.scaleSets).toBeUndefined();
    expect(partFields(fields).sort()).toEqual(["spec", "ss:0", "ss:1", "ss:2"]);
  });

  it("carries on a rollout the previous release stored whole, and rewrites it split", async () => {
    const fleet = new FakeFleet(["a", "b", "c"], galleryVersion("1.0.0"));
    const { prefix, keys } = freshPrefix();
    const id = await heldForApproval(prefix, fleet);
    // What the previous release wrote: schema 2, the whole snapshot in `state`, no parts.
    const store = new RolloutStore(redis, keys, decider.codec);
    const record = await store.load(id);
    if (!record) throw new Error("no record");
    const parts = partFields(await redis.hgetall(keys.rollout(id)));
    await redis.hdel(keys.rollout(id), ...parts);
    await redis.hset(keys.rollout(id), "state", JSON.stringify({ ...record.state, schemaVersion: 2 }));

    // A new process (nothing cached) reads it, approves, and the rollout runs to its end.
    const engine = started(prefix, fleet);
    await engine.start();
    const before = await engine.service.get(id);
    expect(before?.phase).toBe("awaitingApproval");
    expect(before?.scaleSets.map((s) => s.id)).toEqual(record.state.context.scaleSets.map((s) => s.id));
    await engine.service.act(id, "approve", alice);
    const done = await waitForPhase(engine.service, id, ["completed"]);
    expect(done.scaleSets.every((s) => s.phase === "completed")).toBe(true);

    const fields = await redis.hgetall(keys.rollout(id));
    expect(JSON.parse(fields.state ?? "{}").schemaVersion).toBe(3);
    expect(JSON.parse(fields.state ?? "{}").context.scaleSets).toBeUndefined();
    expect(partFields(fields).sort()).toEqual(["spec", "ss:0", "ss:1", "ss:2"]);
  });

  it("refuses a snapshot of a version it does not know, naming it", async () => {
    const fleet = new FakeFleet(["a", "b", "c"], galleryVersion("1.0.0"));
    const { prefix, keys } = freshPrefix();
    const id = await heldForApproval(prefix, fleet);
    const header = JSON.parse((await redis.hget(keys.rollout(id), "state")) ?? "{}");
    await redis.hset(keys.rollout(id), "state", JSON.stringify({ ...header, schemaVersion: 9 }));
    const engine = started(prefix, fleet);
    await expect(engine.service.get(id)).rejects.toMatchObject({
      code: "UNSUPPORTED_SNAPSHOT",
      message: expect.stringContaining("schema 9"),
    });
    await expect(engine.service.act(id, "approve", alice)).rejects.toMatchObject({
      code: "UNSUPPORTED_SNAPSHOT",
      message: expect.stringContaining("schema 9"),
    });
    expect(JSON.parse((await redis.hget(keys.rollout(id), "state")) ?? "{}").schemaVersion).toBe(9);
  });
});
