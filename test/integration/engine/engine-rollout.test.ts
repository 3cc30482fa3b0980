/** The engine drives the real rollout machine to its end, with a scripted fleet standing in for Azure. */
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { AzureAdapterError } from "../../../src/azure/errors.ts";
import { sameImage } from "../../../src/domain/image-reference.ts";
import type { Engine } from "../../../src/engine/service/engine.ts";
import { FakeFleet, galleryVersion, scaleSetId } from "./support/fake-fleet.ts";
import { alice, removeKeys, testEngine, testPrefix, testSpec } from "./support/harness.ts";

const prefix = testPrefix();
const engines: Engine[] = [];

function started(fleet: FakeFleet): Engine {
  const engine = testEngine(prefix, fleet.execute);
  engines.push(engine);
  return engine;
}

afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.stop()));
  await removeKeys(prefix);
});
afterAll(() => removeKeys(prefix));

const v100 = galleryVersion("1.0.0");
const v110 = galleryVersion("1.1.0");

describe("a rollout driven by the engine", () => {
  it("completes across two waves and leaves every instance on the target", async () => {
    const fleet = new FakeFleet(["a", "b", "c"], v100);
    const engine = started(fleet);
    await engine.start();

    const view = await engine.service.start(testSpec(), { actor: alice });
    const done = await engine.service.waitForTerminal(view.id, 20_000);

    expect(done.phase).toBe("completed");
    for (const name of ["a", "b", "c"]) {
      const images = fleet.imagesOf(name);
      expect(sameImage(images.model, v110)).toBe(true);
      expect(images.instances.every((i) => sameImage(i, v110))).toBe(true);
    }
    expect(done.createdBy).toBe("alice");
  });

  it("numbers the timeline one by one and keeps it beside the snapshot", async () => {
    const fleet = new FakeFleet(["a", "b", "c"], v100);
    const engine = started(fleet);
    await engine.start();
    const view = await engine.service.start(testSpec(), { actor: alice });
    await engine.service.waitForTerminal(view.id, 20_000);

    const timeline = await engine.service.timeline(view.id);
    expect(timeline.map((e) => e.seq)).toEqual(timeline.map((_, i) => i + 1));
    expect(timeline.some((e) => e.type === "preflight.passed")).toBe(true);
    const tail = await engine.service.timeline(view.id, timeline.length - 2);
    expect(tail.map((e) => e.seq)).toEqual([timeline.length - 1, timeline.length]);
  });

  it("rolls back automatically when the canary's gate fails: nothing else promoted (invariant 4)", async () => {
    // The new image is bad: its gates fail; the rollback's verification on 1.0.0 passes.
    const fleet: FakeFleet = new FakeFleet(["a", "b", "c"], v100, {
      verdict: (e) => (fleet.runs(e.scaleSetId, e.instanceIds, v110) ? "failed" : "passed"),
    });
    const engine = started(fleet);
    await engine.start();

    const view = await engine.service.start(testSpec(), { actor: alice });
    const done = await engine.service.waitForTerminal(view.id, 20_000);

    expect(done.phase).toBe("rolledBack");
    for (const name of ["a", "b", "c"]) {
      const images = fleet.imagesOf(name);
      expect(sameImage(images.model, v100)).toBe(true);
      expect(images.instances.every((i) => sameImage(i, v100))).toBe(true);
    }
    // Only the first scale set's canary ever took the new image.
    const startedOnTarget = [...fleet.upgradeStarts.keys()].filter((k) => k.endsWith(v110.id ?? ""));
    expect(startedOnTarget).toEqual([`${scaleSetId("a")}/0/${v110.id}`]);
  });

  it("refuses a second rollout on a held scale set with 409 naming the holder (invariant 3)", async () => {
    const fleet = new FakeFleet(["a", "b", "c"], v100);
    const engine = started(fleet); // not started: the first rollout stays active
    const first = await engine.service.start(testSpec(), { actor: alice });

    const second = engine.service.start(
      testSpec({ name: "other", waves: [{ name: "w", scaleSets: [scaleSetId("b")] }] }),
      {
        actor: alice,
      },
    );
    await expect(second).rejects.toMatchObject({
      code: "SCALE_SET_BUSY",
      statusCode: 409,
      details: { holderId: first.id },
    });
    const unrelated = await engine.service.start(
      testSpec({ name: "other", waves: [{ name: "w", scaleSets: [scaleSetId("d")] }] }),
      { actor: alice },
    );
    expect(unrelated.id).not.toBe(first.id);
  });

  it("releases the scale sets when the rollout ends, so the next one may start", async () => {
    const fleet = new FakeFleet(["a", "b", "c"], v100);
    const engine = started(fleet);
    await engine.start();
    const first = await engine.service.start(testSpec(), { actor: alice });
    await engine.service.waitForTerminal(first.id, 20_000);

    const next = await engine.service.start(testSpec({ name: "again" }), { actor: alice });
    expect(next.id).not.toBe(first.id);
  });

  it("returns the same rollout for a repeated idempotency key of the same caller", async () => {
    const fleet = new FakeFleet(["a", "b", "c"], v100);
    const engine = started(fleet);
    const first = await engine.service.start(testSpec(), { actor: alice, idempotencyKey: "pipeline-run-7" });
    const again = await engine.service.start(testSpec(), { actor: alice, idempotencyKey: "pipeline-run-7" });
    expect(again.id).toBe(first.id);

    // Another caller's identical key is a different request: refused as busy, not deduplicated.
    await expect(
      engine.service.start(testSpec(), { actor: { id: "bob" }, idempotencyKey: "pipeline-run-7" }),
    ).rejects.toMatchObject({ code: "SCALE_SET_BUSY" });
  });

  it("lists newest first, filters by phase and scale set, and pages with a cursor", async () => {
    const fleet = new FakeFleet([], v100);
    const engine = started(fleet);
    const ids: string[] = [];
    for (const name of ["p", "q", "r"]) {
      const view = await engine.service.start(
        testSpec({ name, waves: [{ name: "w", scaleSets: [scaleSetId(name)] }] }),
        {
          actor: alice,
        },
      );
      ids.push(view.id);
    }

    const page1 = await engine.service.list({ limit: 2 });
    expect(page1.items.map((v) => v.id)).toEqual([ids[2], ids[1]]);
    expect(page1.nextCursor).toBeDefined();
    const page2 = await engine.service.list({ limit: 2, cursor: page1.nextCursor });
    expect(page2.items.map((v) => v.id)).toEqual([ids[0]]);
    expect(page2.nextCursor).toBeUndefined();

    const byScaleSet = await engine.service.list({ limit: 10, scaleSetId: scaleSetId("Q").toUpperCase() });
    expect(byScaleSet.items.map((v) => v.id)).toEqual([ids[1]]);
    const phase = byScaleSet.items[0]?.phase;
    expect(phase).toBeDefined();
    const byPhase = await engine.service.list({ limit: 10, phase: phase ?? "pending" });
    expect(byPhase.items).toHaveLength(3);
    expect((await engine.service.list({ limit: 10, phase: "completed" })).items).toHaveLength(0);
    await expect(engine.service.list({ limit: 1, cursor: "nonsense" })).rejects.toMatchObject({
      code: "INVALID_CURSOR",
    });
  });

  it("refuses an action the phase does not allow with 409 naming the phase", async () => {
    const fleet = new FakeFleet(["a", "b", "c"], v100);
    const engine = started(fleet);
    const view = await engine.service.start(testSpec(), { actor: alice });
    await expect(engine.service.act(view.id, "approve", alice)).rejects.toMatchObject({
      code: "ACTION_NOT_ALLOWED",
      statusCode: 409,
      details: { phase: view.phase },
    });
    await expect(engine.service.act("ro-missing", "pause", alice)).rejects.toMatchObject({
      code: "ROLLOUT_NOT_FOUND",
    });
  });

  it("rolls back a completed rollout by scale set, restoring the recorded previous version", async () => {
    const fleet = new FakeFleet(["a", "b", "c"], v100);
    const engine = started(fleet);
    await engine.start();
    const view = await engine.service.start(testSpec(), { actor: alice });
    await engine.service.waitForTerminal(view.id, 20_000);

    const rolling = await engine.service.rollbackScaleSet(scaleSetId("b"), { id: "oncall" }, "bad release");
    expect(rolling.id).toBe(view.id);
    const done = await engine.service.waitForTerminal(view.id, 20_000);

    expect(done.phase).toBe("rolledBack");
    for (const name of ["a", "b", "c"]) {
      expect(fleet.imagesOf(name).instances.every((i) => sameImage(i, v100))).toBe(true);
    }
    const timeline = await engine.service.timeline(view.id);
    expect(timeline.some((e) => e.actor === "oncall")).toBe(true);
  });

  it("refuses to roll back a completed rollout superseded by a newer completed one", async () => {
    const fleet = new FakeFleet(["a", "b", "c"], v100);
    const engine = started(fleet);
    await engine.start();
    const older = await engine.service.start(testSpec(), { actor: alice });
    await engine.service.waitForTerminal(older.id, 20_000);
    const newer = await engine.service.start(
      testSpec({ name: "b-only", waves: [{ name: "w", scaleSets: [scaleSetId("b")] }] }),
      { actor: alice },
    );
    expect((await engine.service.waitForTerminal(newer.id, 20_000)).phase).toBe("completed");

    await expect(engine.service.rollbackScaleSet(scaleSetId("a"), alice)).rejects.toMatchObject({
      code: "SUPERSEDED",
      statusCode: 409,
      details: { rolloutId: older.id, newerId: newer.id },
    });
    // The newest rollout of b is itself the one to roll back.
    const rolling = await engine.service.rollbackScaleSet(scaleSetId("b"), alice);
    expect(rolling.id).toBe(newer.id);
  });

  it("refuses to roll back a completed rollout while another active rollout holds one of its scale sets", async () => {
    const fleet = new FakeFleet(["a", "b", "c"], v100);
    const worker = started(fleet);
    await worker.start();
    const older = await worker.service.start(testSpec(), { actor: alice });
    await worker.service.waitForTerminal(older.id, 20_000);
    await worker.stop();
    const api = started(fleet); // no workers: the newer rollout stays active
    const newer = await api.service.start(
      testSpec({ name: "c-only", waves: [{ name: "w", scaleSets: [scaleSetId("c")] }] }),
      { actor: alice },
    );

    await expect(api.service.act(older.id, "rollback", alice)).rejects.toMatchObject({
      code: "SCALE_SET_BUSY",
      details: { holderId: newer.id },
    });
    expect((await api.service.get(older.id))?.phase).toBe("completed");
  });

  it("targets a newer rollout that failed on the scale set, not the older completed one", async () => {
    let breakRollbacks = false;
    const fleet = new FakeFleet(["a", "b", "c"], v100, {
      verdict: () => (breakRollbacks ? "failed" : "passed"),
    });
    const engine = testEngine(prefix, async (effect, context) => {
      if (breakRollbacks && effect.kind === "revertModel")
        throw new AzureAdapterError("AZURE_403", "reverting: AuthorizationFailed", { statusCode: 403 });
      return fleet.execute(effect, context);
    });
    engines.push(engine);
    await engine.start();
    const older = await engine.service.start(testSpec(), { actor: alice });
    expect((await engine.service.waitForTerminal(older.id, 20_000)).phase).toBe("completed");
    breakRollbacks = true;
    const newer = await engine.service.start(
      testSpec({ name: "b-only", waves: [{ name: "w", scaleSets: [scaleSetId("b")] }] }),
      { actor: alice },
    );
    expect((await engine.service.waitForTerminal(newer.id, 20_000)).phase).toBe("failed");

    // Whether the machine lets a failed rollout roll back again or refuses naming it, the one call
    // is about the newer rollout; the older completed one is left alone.
    const target = await engine.service.rollbackScaleSet(scaleSetId("b"), alice).then(
      (view) => view.id,
      (error: { details?: { id?: string; newerId?: string } }) => error.details?.id,
    );
    expect(target).toBe(newer.id);
    expect((await engine.service.get(older.id))?.phase).toBe("completed");
    // The older one cannot take b back from under the newer one: while the newer one's resumed
    // rollback runs it holds b (busy); once it has failed again it still holds b and supersedes the
    // older one there. Either refusal names the newer rollout.
    const refusal = await engine.service.act(older.id, "rollback", alice).then(
      () => undefined,
      (error: { code?: string; details?: Record<string, unknown> }) => error,
    );
    expect(["SCALE_SET_BUSY", "SUPERSEDED"]).toContain(refusal?.code);
    expect(Object.values(refusal?.details ?? {})).toContain(newer.id);
  });

  it("answers NOTHING_TO_ROLL_BACK for a scale set no rollout touched", async () => {
    const engine = started(new FakeFleet([], v100));
    await expect(engine.service.rollbackScaleSet(scaleSetId("zz"), alice)).rejects.toMatchObject({
      code: "NOTHING_TO_ROLL_BACK",
    });
  });
});
