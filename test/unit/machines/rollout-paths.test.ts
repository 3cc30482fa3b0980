/**
 * Every path of a small two-wave rollout, explored exhaustively (explore.ts), with the design's
 * invariants checked on every transition (invariants.ts).
 */
import { describe, expect, it } from "vitest";
import { decide, startRollout } from "../../../machines/decide.ts";
import { describePhase, scaleSetPhase } from "../../../machines/describe.ts";
import type { RolloutEvent } from "../../../src/domain/effects.ts";
import { type RolloutPhase, rolloutPhases, type ScaleSetPhase } from "../../../src/domain/rollout-view.ts";
import { explore, type Transition } from "./explore.ts";
import { at, facts, makeSpec, scaleSetA, scaleSetB, scaleSetC, settings } from "./fixtures.ts";
import { checkTransition } from "./invariants.ts";

const oneScaleSetPerWave = {
  waves: [
    { name: "first", scaleSets: [scaleSetA] },
    { name: "rest", scaleSets: [scaleSetB] },
  ],
};
const strategy = { canary: { instances: 1 }, batchPercent: 50, bakeSeconds: 60 };

const phasesSeen = new Set<RolloutPhase>();
const scaleSetPhasesSeen = new Set<ScaleSetPhase>();

/** The invariants, plus: a stale or duplicated outcome never moves the rollout. */
function check(t: Transition): void {
  checkTransition(t);
  if (t.decision.ignored) return;
  const to = t.decision.state;
  phasesSeen.add(describePhase(to));
  for (const ss of to.context.scaleSets) scaleSetPhasesSeen.add(scaleSetPhase(ss));
  if ("effectId" in t.event) {
    const duplicate = decide(to, t.event);
    if (!duplicate.ignored || duplicate.state.revision !== to.revision)
      throw new Error("duplicate outcome accepted");
  }
  const stale: RolloutEvent = { type: "timer.fired", timer: "bake", effectId: "r0e99", at };
  if (!decide(to, stale).ignored) throw new Error("outcome for an unknown effect accepted");
}

// Exhaustive exploration takes a few seconds on a busy machine; the default 5 s is too tight.
describe("every path of a two-wave rollout keeps the invariants", { timeout: 180_000 }, () => {
  it("with every outcome (up to two faults per path), approval after canary and its timeout", () => {
    const result = explore(
      makeSpec({
        ...oneScaleSetPerWave,
        strategy: { ...strategy, approval: "afterCanary", approvalTimeoutSeconds: 600 },
      }),
      [facts(scaleSetA, 2), facts(scaleSetB, 2)],
      check,
      { userEvents: ["approve"], maxFaults: 2 },
    );
    expect([...result.terminal.keys()].sort()).toEqual(["completed", "failed", "rejected", "rolledBack"]);
  });

  it("with scale sets of a wave moving in parallel and one fault per path", () => {
    const result = explore(
      makeSpec({ strategy: { ...strategy, maxParallelScaleSets: 2 } }),
      [facts(scaleSetA, 2), facts(scaleSetB, 1), facts(scaleSetC, 1)],
      check,
      { userEvents: [], maxFaults: 1 },
    );
    expect(result.terminal.get("completed")).toBeGreaterThan(0);
    expect(result.terminal.get("rolledBack")).toBeGreaterThan(0);
  });

  it("with every user event at every step of a healthy rollout", () => {
    const result = explore(
      makeSpec({
        ...oneScaleSetPerWave,
        strategy: { ...strategy, approval: "eachWave", pauseBetweenBatchesSeconds: 10 },
      }),
      [facts(scaleSetA, 2), facts(scaleSetB, 2)],
      check,
      { maxFaults: 0 },
    );
    expect(result.terminal.get("rolledBack")).toBeGreaterThan(0);
    expect(result.terminal.get("completed")).toBeGreaterThan(0);
  });

  it("with automatic rollback off and onInconclusive pause: failures pause, resume or rollback follow", () => {
    const result = explore(
      makeSpec({
        ...oneScaleSetPerWave,
        rollback: { automatic: false },
        gates: [{ kind: "instanceHealth", onInconclusive: "pause" }],
      }),
      [facts(scaleSetA, 2), facts(scaleSetB, 1)],
      check,
      { userEvents: ["resume", "rollback"], maxFaults: 1 },
    );
    expect(result.terminal.get("paused")).toBeGreaterThan(0);
  });

  it("reaches every rollout phase and every scale set phase", () => {
    // The first decision is not a transition of the explorer: it is where every path starts.
    phasesSeen.add(
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
    expect([...phasesSeen].sort()).toEqual(expect.arrayContaining(allPhases));
    expect([...scaleSetPhasesSeen].sort()).toEqual(expect.arrayContaining(allScaleSetPhases));
  });
});
