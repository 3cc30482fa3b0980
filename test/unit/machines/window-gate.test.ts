/**
 * The change-window gate step by step (machines/window-gate.ts): when the machine asks, what a
 * closed answer does (waitingForWindow, a re-check timer for nextOpenAt), pause and resume around
 * it, skip-window, and a pause during preflight holding the rollout from the start. Uses only
 * startRollout/decide, phases, effect kinds and timeline types.
 */
import { describe, expect, it } from "vitest";
import { type Decision, decide, startRollout } from "../../../machines/decide.ts";
import { describeRollout } from "../../../machines/describe.ts";
import type { Effect, RolloutEvent } from "../../../src/domain/effects.ts";
import { at, facts, makeSpec, scaleSetA, scaleSetB, settings, success } from "./fixtures.ts";

const fleet = [facts(scaleSetA, 2), facts(scaleSetB, 2)];
const spec = makeSpec({
  waves: [
    { name: "first", scaleSets: [scaleSetA] },
    { name: "rest", scaleSets: [scaleSetB] },
  ],
});
const bob = { id: "bob" };
const closed = (effectId: string, nextOpenAt?: string): RolloutEvent => ({
  type: "window.checked",
  effectId,
  at,
  open: false,
  closedBy: [{ kind: "deny", name: "friday", until: nextOpenAt ?? "" }],
  ...(nextOpenAt ? { nextOpenAt } : {}),
});

function start(windows = true): Decision {
  return startRollout({
    rolloutId: "r1",
    spec,
    settings: { ...settings, ...(windows ? { changeWindows: true } : {}) },
    createdBy: "alice",
  });
}

function pending(d: Decision, kind: Effect["kind"]): Effect | undefined {
  return Object.values(d.state.context.pending).find((e) => e.kind === kind);
}

function step(d: Decision, event: RolloutEvent): Decision {
  const next = decide(d.state, event);
  expect(next.ignored).toBeUndefined();
  return next;
}

/** Preflight passes; the first answer is the window check of wave 1. */
function throughPreflight(d: Decision): Decision {
  return step(d, success(d.effects[0] as Effect, fleet));
}

describe("the change-window gate", () => {
  it("asks before wave 1 and nothing starts until the answer is open", () => {
    // Mutation: windowLetsWaveStart returns true without asking -> a setModelImage at once -> fails.
    const d = throughPreflight(start());
    expect(d.effects.map((e) => e.kind)).toEqual(["checkWindow"]);
    expect(d.effects[0]).toMatchObject({ wave: "first", waveIndex: 0, scaleSetIds: [scaleSetA] });
    const open = step(d, success(d.effects[0] as Effect, fleet));
    expect(open.effects.map((e) => e.kind)).toEqual(["setModelImage"]);
  });

  it("asks nothing without change windows configured", () => {
    // Mutation: the settings flag ignored -> a checkWindow -> fails.
    const d = throughPreflight(start(false));
    expect(d.effects.map((e) => e.kind)).toEqual(["setModelImage"]);
  });

  it("closed: waitingForWindow with nextOpenAt and a re-check timer for exactly then", () => {
    const d = throughPreflight(start());
    const nextOpenAt = new Date(Date.parse(at) + 90_000).toISOString();
    const waiting = step(d, closed(d.effects[0]?.id as string, nextOpenAt));
    expect(waiting.state.state).toBe("waitingForWindow");
    expect(describeRollout(waiting.state)).toMatchObject({
      phase: "waitingForWindow",
      window: { wave: "first", status: "closed", nextOpenAt },
    });
    // Mutation: delay not derived from nextOpenAt (e.g. always the hourly cap) -> fails.
    expect(waiting.effects).toEqual([
      expect.objectContaining({ kind: "startTimer", timer: "window", delaySeconds: 90 }),
    ]);
    expect(waiting.timeline.map((l) => l.type)).toEqual(["window.closed"]);
    // No known opening: re-check within the hour.
    const unknown = step(d, closed(d.effects[0]?.id as string));
    expect(unknown.effects[0]).toMatchObject({ timer: "window", delaySeconds: 3600 });

    const timer = step(waiting, success(waiting.effects[0] as Effect, fleet));
    expect(timer.effects.map((e) => e.kind)).toEqual(["checkWindow"]);
    // Mutation: a re-check counts as not waiting -> the phase flickers to running -> fails.
    expect(timer.state.state).toBe("waitingForWindow");
    // The same answer again: still waiting, a new timer, no second line in the timeline.
    // Mutation: every closed answer noted -> a window.closed line per re-check -> fails.
    const same = step(timer, closed(timer.effects[0]?.id as string, nextOpenAt));
    expect(same.state.state).toBe("waitingForWindow");
    expect(same.timeline).toEqual([]);
    expect(same.effects.map((e) => e.kind)).toEqual(["startTimer"]);
    const open = step(timer, success(timer.effects[0] as Effect, fleet));
    expect(open.state.state).toBe("running");
    expect(open.timeline.map((l) => l.type)).toEqual(expect.arrayContaining(["window.open", "wave.started"]));
  });

  it("paused while waiting: the timer checks nothing; resume asks again before the wave starts", () => {
    const d = throughPreflight(start());
    const waiting = step(d, closed(d.effects[0]?.id as string, "2026-11-27T10:01:00.000Z"));
    const paused = step(waiting, { type: "pause", actor: bob, reason: "drill", at });
    expect(paused.state.state).toBe("paused");
    // Mutation: onWindowTimer checks while held -> a checkWindow while paused -> fails.
    const fired = step(paused, success(pending(paused, "startTimer") as Effect, fleet));
    expect(fired.effects).toEqual([]);
    const resumed = step(fired, { type: "resume", actor: bob, at });
    // Mutation: resumeWindow removed -> stuck: no effect pending at all -> fails.
    expect(resumed.effects.map((e) => e.kind)).toEqual(["checkWindow"]);
    // Still waiting for the window it knew was closed, until the answer comes.
    expect(resumed.state.state).toBe("waitingForWindow");
  });

  it("skip-window starts the wave, names the actor and reason, and cancels the re-check", () => {
    const d = throughPreflight(start());
    const waiting = step(d, closed(d.effects[0]?.id as string, "2026-11-27T10:01:00.000Z"));
    const skipped = step(waiting, { type: "skipWindow", actor: bob, reason: "INC-7 hotfix", at });
    expect(skipped.state.state).toBe("running");
    expect(skipped.effects.map((e) => e.kind)).toEqual(["setModelImage"]);
    expect(pending(skipped, "startTimer")).toBeUndefined();
    expect(skipped.timeline[0]).toMatchObject({
      type: "window.skipped",
      actor: "bob",
      data: { reason: "INC-7 hotfix", wave: "first" },
    });
    // Only while waiting for a window.
    expect(decide(skipped.state, { type: "skipWindow", actor: bob, reason: "x", at }).ignored).toMatch(
      /skip-window/,
    );
  });

  it("a pause during preflight holds the rollout from the start: paused, nothing written, resume starts it", () => {
    const d = start(false);
    // Mutation: pause not accepted in preflight (as before) -> ignored -> fails.
    const held = step(d, { type: "pause", actor: bob, reason: "emergency stop: SEV1", at });
    expect(held.timeline[0]).toMatchObject({ type: "rollout.pauseRequested", actor: "bob" });
    const passed = step(held, success(d.effects[0] as Effect, fleet));
    expect(passed.state.state).toBe("paused");
    // Mutation: hold not set with the request -> setModelImage emitted before pausing -> fails.
    expect(passed.effects.map((e) => e.kind)).not.toContain("setModelImage");
    const resumed = step(passed, { type: "resume", actor: bob, at });
    expect(resumed.effects.map((e) => e.kind)).toEqual(["setModelImage"]);
  });
});
