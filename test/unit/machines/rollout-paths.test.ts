/**
 * Every path of a small two-wave rollout, explored exhaustively (explore.ts), with the design's
 * invariants checked on every transition (invariants.ts); and the inconclusive-gate paths driven
 * step by step. Every test stands alone: the phase-coverage test runs its own explorations. The
 * step-by-step tests use only startRollout/decide, the rollout's phase (`state.state`), effect kinds
 * and timeline entry types, so they hold whatever the machine's internal steps are called.
 */
import { describe, expect, it } from "vitest";
import { type Decision, decide, startRollout } from "../../../machines/decide.ts";
import { describePhase, scaleSetPhase } from "../../../machines/describe.ts";
import type { Effect, GateVerdict, RolloutEvent } from "../../../src/domain/effects.ts";
import type { ScaleSetFacts } from "../../../src/domain/fleet.ts";
import { type RolloutPhase, rolloutPhases, type ScaleSetPhase } from "../../../src/domain/rollout-view.ts";
import type { RolloutSpec } from "../../../src/domain/spec.ts";
import { explore, type Transition } from "./explore.ts";
import { at, facts, makeSpec, scaleSetA, scaleSetB, scaleSetC, settings, success } from "./fixtures.ts";
import { checkTransition } from "./invariants.ts";

const oneScaleSetPerWave = {
  waves: [
    { name: "first", scaleSets: [scaleSetA] },
    { name: "rest", scaleSets: [scaleSetB] },
  ],
};
const strategy = { canary: { instances: 1 }, batchPercent: 50, bakeSeconds: 60 };

interface Seen {
  phases: Set<RolloutPhase>;
  scaleSetPhases: Set<ScaleSetPhase>;
}

/** The invariants, plus: a stale or duplicated outcome never moves the rollout. Records the phases seen. */
function checker(seen: Seen): (t: Transition) => void {
  return (t) => {
    checkTransition(t);
    if (t.decision.ignored) return;
    const to = t.decision.state;
    seen.phases.add(describePhase(to));
    for (const ss of to.context.scaleSets) seen.scaleSetPhases.add(scaleSetPhase(ss));
    if ("effectId" in t.event) {
      const duplicate = decide(to, t.event);
      if (!duplicate.ignored || duplicate.state.revision !== to.revision)
        throw new Error("duplicate outcome accepted");
    }
    const stale: RolloutEvent = { type: "timer.fired", timer: "bake", effectId: "r0e99", at };
    if (!decide(to, stale).ignored) throw new Error("outcome for an unknown effect accepted");
  };
}

const newSeen = (): Seen => ({ phases: new Set(), scaleSetPhases: new Set() });

/**
 * Change windows: a checkWindow only where a wave's first scale set would start (every scale set
 * of the current wave waiting: never mid-batch), never from a rollback; nothing of a wave starts
 * while its window is closed and not skipped.
 */
function windowChecker(seen: Seen): (t: Transition) => void {
  const base = checker(seen);
  return (t) => {
    base(t);
    if (t.decision.ignored) return;
    const to = t.decision.state;
    for (const e of t.decision.effects) {
      if (e.kind !== "checkWindow") continue;
      // Mutation: the gate called for every startNextScaleSets (mid-wave) -> fails here.
      const wave = to.context.scaleSets.filter((s) => s.waveIndex === e.waveIndex);
      if (!wave.every((s) => s.state === "waiting")) throw new Error("checkWindow while the wave is moving");
      // Mutation: a rollback asks for a window -> fails here.
      if (["rollingBack", "rolledBack", "failed"].includes(to.state))
        throw new Error("a rollback checked a window");
    }
    // Mutation: the wave starts on a closed answer -> a setModelImage while waitingForWindow -> fails.
    if (to.state === "waitingForWindow" && t.decision.effects.some((e) => e.kind === "setModelImage"))
      throw new Error("a wave started while its window is closed");
    if (t.event.type === "skipWindow" && !t.decision.timeline.some((l) => l.type === "window.skipped"))
      throw new Error("skip-window not recorded");
  };
}

const explorations = {
  approval: (seen: Seen) =>
    explore(
      makeSpec({
        ...oneScaleSetPerWave,
        strategy: { ...strategy, approval: "afterCanary", approvalTimeoutSeconds: 600 },
      }),
      [facts(scaleSetA, 2), facts(scaleSetB, 2)],
      checker(seen),
      { userEvents: ["approve"], maxFaults: 2 },
    ),
  parallel: (seen: Seen) =>
    explore(
      makeSpec({ strategy: { ...strategy, maxParallelScaleSets: 2 } }),
      [facts(scaleSetA, 2), facts(scaleSetB, 1), facts(scaleSetC, 1)],
      checker(seen),
      { userEvents: [], maxFaults: 1 },
    ),
  userEvents: (seen: Seen) =>
    explore(
      makeSpec({
        ...oneScaleSetPerWave,
        strategy: { ...strategy, approval: "eachWave", pauseBetweenBatchesSeconds: 10 },
      }),
      [facts(scaleSetA, 2), facts(scaleSetB, 2)],
      checker(seen),
      { maxFaults: 0 },
    ),
  windows: (seen: Seen) =>
    explore(
      makeSpec({ ...oneScaleSetPerWave, strategy }),
      [facts(scaleSetA, 2), facts(scaleSetB, 1)],
      windowChecker(seen),
      {
        userEvents: ["skipWindow", "pause", "resume", "rollback"],
        maxFaults: 1,
        worldChanges: false,
        settings: { ...settings, changeWindows: true },
      },
    ),
  manualRollback: (seen: Seen) =>
    explore(
      makeSpec({
        ...oneScaleSetPerWave,
        rollback: { automatic: false },
        gates: [{ kind: "instanceHealth", onInconclusive: "pause" }],
      }),
      [facts(scaleSetA, 2), facts(scaleSetB, 1)],
      checker(seen),
      { userEvents: ["resume", "rollback"], maxFaults: 1 },
    ),
};

// Exhaustive exploration takes a few seconds on a busy machine; the default 5 s is too tight.
describe("every path of a two-wave rollout keeps the invariants", { timeout: 180_000 }, () => {
  it("with every outcome (up to two faults per path), approval after canary and its timeout", () => {
    const result = explorations.approval(newSeen());
    expect([...result.terminal.keys()].sort()).toEqual(["completed", "failed", "rejected", "rolledBack"]);
  });

  it("with scale sets of a wave moving in parallel and one fault per path", () => {
    const result = explorations.parallel(newSeen());
    expect(result.terminal.get("completed")).toBeGreaterThan(0);
    expect(result.terminal.get("rolledBack")).toBeGreaterThan(0);
  });

  it("with every user event at every step of a healthy rollout", () => {
    const result = explorations.userEvents(newSeen());
    expect(result.terminal.get("rolledBack")).toBeGreaterThan(0);
    expect(result.terminal.get("completed")).toBeGreaterThan(0);
  });

  it("with automatic rollback off: failures pause, resume or rollback follow", () => {
    const result = explorations.manualRollback(newSeen());
    expect(result.terminal.get("paused")).toBeGreaterThan(0);
    expect(result.terminal.get("rolledBack")).toBeGreaterThan(0);
  });

  it("with change windows: closed before a wave, re-checked, skipped, paused and rolled back", () => {
    const seen = newSeen();
    const result = explorations.windows(seen);
    // Mutation: waitingForWindow never entered (the always guard removed) -> fails.
    expect(seen.phases.has("waitingForWindow")).toBe(true);
    expect(result.terminal.get("completed")).toBeGreaterThan(0);
    expect(result.terminal.get("rolledBack")).toBeGreaterThan(0);
    // A window with no known opening waits for its re-check timer, never stuck without an effect.
    expect(result.terminal.get("waitingForWindow")).toBeUndefined();
  });

  it("reaches every rollout phase and every scale set phase", { timeout: 300_000 }, () => {
    const seen = newSeen();
    for (const run of Object.values(explorations)) run(seen);
    // The first decision is not a transition of the explorer: it is where every path starts.
    seen.phases.add(
      describePhase(startRollout({ rolloutId: "r", spec: makeSpec(), settings, createdBy: "a" }).state),
    );
    // `pending` is the machine's initial state; startRollout leaves it before anything is stored.
    const allPhases = rolloutPhases.filter((phase) => phase !== "pending");
    const allScaleSetPhases: ScaleSetPhase[] = [
      "waiting",
      "updatingModel",
      "canary",
      "baking",
      "awaitingApproval",
      "promoting",
      "completed",
      "rollingBack",
      "rolledBack",
      "failed",
    ];
    expect([...seen.phases].sort()).toEqual(expect.arrayContaining(allPhases));
    expect([...seen.scaleSetPhases].sort()).toEqual(expect.arrayContaining(allScaleSetPhases));
  });
});

/**
 * Drives a rollout like a healthy engine would, except that every gate evaluation of the rollout's
 * own batches (phase `running`) answers `verdict`; the rollback's health check passes. Stops when
 * nothing is left to do (a terminal phase, or paused waiting for a person).
 */
function drive(spec: RolloutSpec, fleet: ScaleSetFacts[], verdict: GateVerdict, from?: Decision) {
  let current =
    from ?? startRollout({ rolloutId: "r1", spec, settings: inconclusiveSettings, createdBy: "alice" });
  const queue: Effect[] = [...current.effects];
  const timeline = [...current.timeline];
  const phases = [current.state.state];
  let rolloutEvaluations = 0;
  while (queue.length > 0) {
    const effect = queue.shift() as Effect;
    // Cancelled since (a verdict asked for drops the analysis timer): the engine drops it too.
    if (!(effect.id in current.state.context.pending)) continue;
    const forRollout = effect.kind === "evaluateGates" && current.state.state === "running";
    if (forRollout) rolloutEvaluations += 1;
    current = decide(current.state, success(effect, fleet, forRollout ? verdict : "passed"));
    expect(current.ignored).toBeUndefined();
    queue.push(...current.effects);
    timeline.push(...current.timeline);
    if (phases.at(-1) !== current.state.state) phases.push(current.state.state);
  }
  return { decision: current, timeline, phases, rolloutEvaluations };
}

/** Retries every 30 s for 120 s: four evaluations (the first and three retries) before the gate's rule decides. */
const inconclusiveSettings = { ...settings, gateRetrySeconds: 30, inconclusiveTimeoutSeconds: 120 };
const attempts = 4;
const twoSets = [facts(scaleSetA, 2), facts(scaleSetB, 2)];

describe("a gate that stays inconclusive", () => {
  it("is retried until inconclusiveTimeoutSeconds, then with onInconclusive fail the rollout rolls back", () => {
    const spec = makeSpec({
      ...oneScaleSetPerWave,
      gates: [{ kind: "instanceHealth", onInconclusive: "fail" }],
    });
    const run = drive(spec, twoSets, "inconclusive");
    expect(run.rolloutEvaluations).toBe(attempts);
    // The timeline says it once and then how many times in a row (a run of identical answers collapses).
    const evaluated = run.timeline.filter((entry) => entry.type === "gates.evaluated");
    expect(evaluated[0]?.data?.verdict).toBe("inconclusive");
    const repeated = run.timeline.find((entry) => entry.type === "gates.inconclusiveRepeatedly");
    expect(repeated?.data).toMatchObject({ verdict: "inconclusive", count: attempts });
    // Retried, not failed on the first answer: it stayed running through the retries, then rolled back.
    expect(run.phases).toEqual(["preflight", "running", "rollingBack", "rolledBack"]);
    // Only the canary batch was ever upgraded forward: one upgrade, then the rollback's own.
    const upgradesBeforeRollback = run.timeline
      .slice(
        0,
        run.timeline.findIndex((entry) => entry.type === "rollback.started"),
      )
      .filter((entry) => entry.type === "batch.upgrading");
    expect(upgradesBeforeRollback).toHaveLength(1);
  });

  it("with onInconclusive pause, is retried, then holds the rollout paused with rollback automatic on", () => {
    const spec = makeSpec({
      ...oneScaleSetPerWave,
      gates: [{ kind: "instanceHealth", onInconclusive: "pause" }],
    });
    expect(spec.rollback.automatic).toBe(true);
    const run = drive(spec, twoSets, "inconclusive");
    expect(run.rolloutEvaluations).toBe(attempts);
    expect(run.phases).toEqual(["preflight", "running", "paused"]);
    expect(run.decision.state.state).toBe("paused");
    expect(run.timeline.map((entry) => entry.type)).not.toContain("rollback.started");
    // Resume evaluates again; now the gate passes and the rollout completes.
    const resumed = decide(run.decision.state, {
      type: "resume",
      actor: { id: "bob", role: "operator" },
      at,
    });
    expect(resumed.effects.map((effect) => effect.kind)).toContain("evaluateGates");
    const finished = drive(spec, twoSets, "passed", resumed);
    expect(finished.decision.state.state).toBe("completed");
  });

  it("passes on a retry when the metric answers before the timeout: no rollback, no pause", () => {
    const spec = makeSpec({
      ...oneScaleSetPerWave,
      gates: [{ kind: "instanceHealth", onInconclusive: "fail" }],
    });
    let answered = 0;
    let current = startRollout({ rolloutId: "r1", spec, settings: inconclusiveSettings, createdBy: "alice" });
    const queue: Effect[] = [...current.effects];
    const phases = new Set<string>();
    while (queue.length > 0) {
      const effect = queue.shift() as Effect;
      const verdict: GateVerdict =
        effect.kind === "evaluateGates" && answered++ < attempts - 1 ? "inconclusive" : "passed";
      current = decide(current.state, success(effect, twoSets, verdict));
      queue.push(...current.effects);
      phases.add(current.state.state);
    }
    expect(current.state.state).toBe("completed");
    expect(phases.has("rollingBack")).toBe(false);
    expect(phases.has("paused")).toBe(false);
  });
});
