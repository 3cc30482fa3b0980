/** Focused behaviour of the decider: what the engine and the API rely on. */
import { describe, expect, it } from "vitest";
import { canApply, type Decision, decide, startRollout } from "../../../machines/decide.ts";
import { describeRollout, heldScaleSetIds, isTerminal } from "../../../machines/describe.ts";
import type { Effect, RolloutEvent } from "../../../src/domain/effects.ts";
import {
  at,
  facts,
  makeSpec,
  previousImage,
  scaleSetA,
  scaleSetB,
  scaleSetC,
  settings,
  success,
} from "./fixtures.ts";

const fleet = [facts(scaleSetA, 4), facts(scaleSetB, 2), facts(scaleSetC, 2)];
const bob = { id: "bob", role: "operator" };

function start(spec = makeSpec()): Decision {
  return startRollout({ rolloutId: "r1", spec, settings, createdBy: "alice" });
}

/** Answers pending effects in order until `stop` says so, like a healthy engine would. */
function run(d: Decision, stop: (d: Decision, next: Effect) => boolean, answer = success): Decision {
  const queue = [...d.effects];
  let current = d;
  while (queue.length > 0) {
    const effect = queue.shift() as Effect;
    // Cancelled since (a verdict asked for drops the analysis timer): the engine drops it too.
    if (!(effect.id in current.state.context.pending)) continue;
    if (stop(current, effect)) return current;
    current = decide(current.state, answer(effect, fleet));
    expect(current.ignored).toBeUndefined();
    queue.push(...current.effects);
  }
  return current;
}

function firstPending(d: Decision, kind: Effect["kind"]): Effect {
  const e = Object.values(d.state.context.pending).find((p) => p.kind === kind);
  if (!e) throw new Error(`no pending ${kind}`);
  return e;
}

describe("startRollout", () => {
  it("starts in preflight with one preflight effect at revision 1", () => {
    const d = start();
    expect(d.state.revision).toBe(1);
    expect(d.state.schemaVersion).toBeGreaterThan(0);
    expect(describeRollout(d.state).phase).toBe("preflight");
    expect(d.effects).toEqual([{ kind: "preflight", id: "r1e0" }]);
    expect(d.timeline[0]).toMatchObject({ type: "rollout.started", actor: "alice" });
    expect(heldScaleSetIds(d.state)).toEqual([scaleSetA, scaleSetB, scaleSetC]);
  });

  it("persists as plain JSON that decides the same after a round trip", () => {
    const d = start();
    const outcome = success(d.effects[0] as Effect, fleet);
    const direct = decide(d.state, outcome);
    const restored = decide(JSON.parse(JSON.stringify(d.state)), outcome);
    expect(restored).toEqual(direct);
  });

  it("refuses a snapshot of another schema version with a coded error", () => {
    const d = start();
    expect(() => decide({ ...d.state, schemaVersion: 99 }, success(d.effects[0] as Effect, fleet))).toThrow(
      expect.objectContaining({ code: "ROLLOUT_SCHEMA_VERSION" }),
    );
  });
});

describe("decide", () => {
  it("records every scale set's previous image at preflight, before any model write", () => {
    const d = decide(start().state, success(start().effects[0] as Effect, fleet));
    const view = describeRollout(d.state);
    expect(view.scaleSets.map((s) => s.previousImage)).toEqual([previousImage, previousImage, previousImage]);
    expect(d.effects).toMatchObject([
      { kind: "setModelImage", scaleSetId: scaleSetA, previous: previousImage },
    ]);
    expect(d.timeline.find((l) => l.type === "preflight.passed")?.message).toContain("previous versions");
  });

  it("ignores a duplicated outcome without moving the revision", () => {
    const first = start();
    const outcome = success(first.effects[0] as Effect, fleet);
    const once = decide(first.state, outcome);
    const twice = decide(once.state, outcome);
    expect(twice.ignored).toMatch(/stale/);
    expect(twice.state).toBe(once.state);
    expect(twice.effects).toEqual([]);
  });

  it("refuses approve outside awaitingApproval with a reason for a person", () => {
    const d = start();
    expect(canApply(d.state, "approve")).toEqual({ ok: false, reason: expect.stringMatching(/preflight/) });
    const refused = decide(d.state, { type: "approve", actor: bob, at });
    expect(refused.ignored).toMatch(/cannot approve/);
    expect(refused.state.revision).toBe(1);
  });

  it("completes two waves, every instance on the target, and can then be rolled back", () => {
    const done = run(start(), () => false);
    const view = describeRollout(done.state);
    expect(view.phase).toBe("completed");
    expect(view.waves.map((w) => w.status)).toEqual(["done", "done"]);
    expect(isTerminal(done.state)).toBe(true);
    expect(heldScaleSetIds(done.state)).toEqual([]);
    expect(view.scaleSets.find((s) => s.id === scaleSetA)?.batches.map((b) => b.instanceIds)).toEqual([
      ["0"],
      ["1", "2"],
      ["3"],
    ]);
    expect(canApply(done.state, "rollback")).toEqual({ ok: true });
    const back = decide(done.state, { type: "rollback", actor: bob, reason: "customer reports", at });
    expect(describeRollout(back.state).phase).toBe("rollingBack");
    expect(back.effects.map((e) => e.kind)).toEqual(["revertModel", "revertModel", "revertModel"]);
    expect(back.timeline[0]).toMatchObject({ type: "rollback.started", actor: "bob" });
    const finished = run(back, () => false);
    expect(describeRollout(finished.state)).toMatchObject({
      phase: "rolledBack",
      reason: expect.stringMatching(/bob/),
    });
  });

  it("rolls back at the canary when a gate fails, and never upgrades another rollout batch", () => {
    const emitted: Effect[] = [];
    const end = run(
      start(),
      () => false,
      (effect, f) => {
        emitted.push(effect);
        const firstGate =
          effect.kind === "evaluateGates" && !emitted.slice(0, -1).some((e) => e.kind === "evaluateGates");
        return success(effect, f, firstGate ? "failed" : "passed");
      },
    );
    const view = describeRollout(end.state);
    expect(view.phase).toBe("rolledBack");
    expect(view.reason).toMatch(/web-a canary batch: gate failed/);
    const rolloutUpgrades = emitted.filter((e) => e.kind === "upgradeInstances" && e.purpose === "rollout");
    expect(rolloutUpgrades).toHaveLength(1);
    expect(emitted.filter((e) => e.kind === "revertModel")).toMatchObject([
      { scaleSetId: scaleSetA, previous: previousImage },
    ]);
    expect(view.scaleSets.find((s) => s.id === scaleSetB)?.phase).toBe("waiting");
  });

  it("stops on a model conflict, does not write that scale set again, and says why", () => {
    const end = run(
      start(),
      () => false,
      (effect, f) =>
        effect.kind === "setModelImage"
          ? {
              type: "model.conflict",
              effectId: effect.id,
              at,
              scaleSetId: effect.scaleSetId,
              found: { id: "other" },
            }
          : success(effect, f),
    );
    const view = describeRollout(end.state);
    expect(view.phase).toBe("rolledBack");
    expect(view.reason).toMatch(/web-a was changed by someone else/);
  });

  it("rejects, naming the region, when replication failed", () => {
    const d = start();
    const waiting = decide(d.state, {
      ...(success(d.effects[0] as Effect, fleet) as Extract<RolloutEvent, { type: "preflight.passed" }>),
      replication: "replicating",
    });
    expect(describeRollout(waiting.state).phase).toBe("waitingForReplication");
    const timer = firstPending(waiting, "startTimer");
    const check = decide(waiting.state, success(timer, fleet));
    const refused = decide(check.state, {
      type: "replication.checked",
      effectId: firstPending(check, "checkReplication").id,
      at,
      status: "failed",
      findings: [{ region: "northeurope", code: "ReplicationFailed", message: "replication failed" }],
    });
    expect(describeRollout(refused.state)).toMatchObject({
      phase: "rejected",
      reason: expect.stringMatching(/northeurope/),
    });
    expect(refused.effects).toEqual([]);
  });

  it("holds before the next batch while paused, and lets in-flight steps finish", () => {
    const canaryUpgrading = run(start(), (_d, next) => next.kind === "upgradeInstances");
    const paused = decide(canaryUpgrading.state, { type: "pause", actor: bob, reason: "lunch", at });
    expect(describeRollout(paused.state)).toMatchObject({ phase: "paused", reason: "paused by bob: lunch" });
    expect(describeRollout(paused.state).waves.map((w) => w.status)).toEqual(["active", "pending"]);
    const upgrade = firstPending(paused, "upgradeInstances");
    const upgraded = decide(paused.state, success(upgrade, fleet));
    expect(upgraded.effects.map((e) => e.kind)).toEqual(["evaluateGates"]);
    const resumed = decide(upgraded.state, { type: "resume", actor: bob, at });
    expect(describeRollout(resumed.state).phase).toBe("canary");
  });

  it("waits for approval after the canary bake when the policy says so, and the timeout rolls back", () => {
    const spec = makeSpec({ strategy: { approval: "afterCanary", approvalTimeoutSeconds: 900 } });
    const waiting = run(start(spec), (d) => describeRollout(d.state).phase === "awaitingApproval");
    expect(canApply(waiting.state, "approve")).toEqual({ ok: true });
    const timer = Object.values(waiting.state.context.pending).find(
      (e) => e.kind === "startTimer" && e.timer === "approvalTimeout",
    ) as Effect;
    const timedOut = decide(waiting.state, success(timer, fleet));
    expect(describeRollout(timedOut.state)).toMatchObject({
      phase: "rollingBack",
      reason: expect.stringMatching(/no approval/),
    });
  });
});
