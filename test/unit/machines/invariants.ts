/** The design's invariants as checks on one transition of the explorer (explore.ts). */

import type { PersistedRollout } from "../../../machines/decide.ts";
import { describePhase, heldScaleSetIds } from "../../../machines/describe.ts";
import type { Effect } from "../../../src/domain/effects.ts";
import { sameImage } from "../../../src/domain/image-reference.ts";
import { terminalPhases } from "../../../src/domain/rollout-view.ts";
import type { Transition } from "./explore.ts";

export class InvariantViolation extends Error {
  override name = "InvariantViolation";
}

function fail(t: Transition, message: string): never {
  throw new InvariantViolation(
    `${message}\n  from ${t.from.state.state} (revision ${t.from.state.revision}) on ${JSON.stringify(t.event)}`,
  );
}

const rollbackStates = new Set(["rollingBack", "rolledBack", "failed"]);

function scaleSet(state: PersistedRollout, id: string) {
  return state.context.scaleSets.find((s) => s.id === id);
}

export function checkTransition(t: Transition): void {
  const { from, decision, event } = t;
  const to = decision.state;

  // Stale outcomes and refused user events change nothing, not even the revision.
  if (decision.ignored) {
    if (to !== from.state || decision.effects.length > 0 || decision.timeline.length > 0) {
      fail(t, "an ignored event changed the rollout");
    }
    return;
  }
  if (to.revision !== from.state.revision + 1) fail(t, "an accepted event must move the revision by one");
  // The one exception: a pass that extends a run of passes (collapsed into one line when the run ends).
  const streakGrew = to.context.scaleSets.some(
    (s) => (s.analysis.streak?.count ?? 0) > (scaleSet(from.state, s.id)?.analysis.streak?.count ?? 0),
  );
  // And the analysis's interval timer, which only starts the next evaluation.
  const answered = "effectId" in event ? from.state.context.pending[event.effectId] : undefined;
  const routine =
    answered?.kind === "startTimer" &&
    (answered.timer === "analysis" || answered.timer === "gateRetry" || answered.timer === "window") &&
    from.state.state !== "rollingBack";
  // And a window re-check that found it closed exactly as before (recorded once, not hourly).
  const recheck = answered?.kind === "checkWindow" && to.state === "waitingForWindow";
  if (decision.timeline.length === 0 && !streakGrew && !routine && !recheck)
    fail(t, "an accepted event must leave a line in the release record");
  if ("actor" in event && !decision.timeline.some((l) => l.actor === event.actor.id)) {
    fail(t, "a user event's timeline must name its actor");
  }

  // Effect ids: deterministic, unique (the revision is part of them), BullMQ-safe.
  const ids = new Set<string>();
  for (const e of decision.effects) {
    if (!new RegExp(`^r${to.revision}e\\d+$`).test(e.id) || e.id.includes(":"))
      fail(t, `bad effect id ${e.id}`);
    if (ids.has(e.id)) fail(t, `duplicate effect id ${e.id}`);
    ids.add(e.id);
    if (!(e.id in to.context.pending)) fail(t, `emitted effect ${e.id} is not pending`);
  }

  // Invariant 1: the previous image is recorded before the first model write and never changes.
  for (const before of from.state.context.scaleSets) {
    const after = scaleSet(to, before.id);
    if (
      before.previousImage &&
      JSON.stringify(after?.previousImage) !== JSON.stringify(before.previousImage)
    ) {
      fail(t, `invariant 1: previous image of ${before.id} changed`);
    }
  }
  for (const e of decision.effects) {
    const recorded =
      "scaleSetId" in e && e.scaleSetId ? scaleSet(to, e.scaleSetId)?.previousImage : undefined;
    if (e.kind === "setModelImage" && (!recorded || !sameImage(e.previous, recorded))) {
      fail(t, "invariant 1: model written without the recorded previous image");
    }
    // Invariant 2: rollback restores exactly the recorded image and brings back every touched instance.
    if (e.kind === "revertModel" && (!recorded || JSON.stringify(e.previous) !== JSON.stringify(recorded))) {
      fail(t, "invariant 2: revert to something other than the recorded previous image");
    }
    if (e.kind === "upgradeInstances") {
      // Invariant 8's half in the machine: an upgrade names the image canaryd wrote into the model.
      const wrote = e.purpose === "rollback" ? recorded : to.context.targetImage;
      if (JSON.stringify(e.image) !== JSON.stringify(wrote))
        fail(t, `invariant 8: ${e.purpose} upgrade expects a model canaryd did not write`);
    }
  }

  // Invariant 4: once rolling back, no rollout step (model write, observe, rollout upgrade) is issued.
  const rollingBack = rollbackStates.has(from.state.state) || rollbackStates.has(to.state);
  const rolloutStep = (e: Effect) =>
    e.kind === "setModelImage" ||
    e.kind === "observeScaleSet" ||
    (e.kind === "upgradeInstances" && e.purpose === "rollout");
  if (rollingBack && decision.effects.some(rolloutStep))
    fail(t, "invariant 4: a rollout step after rollback began");
  if (
    event.type === "gates.evaluated" &&
    event.verdict === "failed" &&
    from.state.context.spec.rollback.automatic &&
    (from.state.state === "running" || from.state.state === "paused") &&
    to.state !== "rollingBack" &&
    to.state !== "rolledBack" &&
    to.state !== "failed"
  ) {
    fail(t, "invariant 4: a failed gate with automatic rollback did not start the rollback");
  }
  if (rollbackStates.has(from.state.state) && !rollbackStates.has(to.state)) fail(t, "left the rollback");

  // Terminal: nothing pending, nothing emitted; the final ones accept nothing more.
  const phase = describePhase(to);
  if (terminalPhases.has(phase)) {
    if (decision.effects.length > 0 || Object.keys(to.context.pending).length > 0) {
      fail(t, `terminal phase ${phase} left effects pending`);
    }
  }
  if (["rolledBack", "rejected"].includes(from.state.state)) fail(t, "a final state accepted an event");
  if (from.state.state === "failed" && !("actor" in event && ["rollback", "release"].includes(event.type)))
    fail(t, "failed accepted something other than on-call's rollback or release");

  // Invariant 7: a failed rollout keeps its claim on every scale set its rollback did not converge.
  if (to.state === "failed") {
    const held = heldScaleSetIds(to);
    for (const ss of to.context.scaleSets) {
      if (ss.state === "rollbackFailed" && !to.context.released && !held.includes(ss.id))
        fail(t, `invariant 7: failed rollout released ${ss.id}, whose rollback did not converge`);
    }
    if (!to.context.scaleSets.some((s) => s.state === "rollbackFailed"))
      fail(t, "failed with every scale set converged");
  }

  // Nothing stuck: a live rollout with nothing pending waits for a person.
  if (!terminalPhases.has(phase) && Object.keys(to.context.pending).length === 0) {
    if (phase !== "paused" && phase !== "awaitingApproval") fail(t, `stuck in ${phase} with nothing pending`);
  }

  // The simulated fleet ends where the phase says it does.
  // The simulated fleet is where a scale set's state says, at the moment it gets there (the world
  // may change afterwards: a scale set canaryd finished with is no longer watched).
  for (const ss of to.context.scaleSets) {
    const was = scaleSet(from.state, ss.id)?.state;
    if (was === ss.state) continue;
    const model = t.to.world.models[ss.id];
    const instances = Object.entries(t.to.world.instances[ss.id] ?? {});
    if (ss.state === "rolledBack") {
      if (model !== "prev") fail(t, `invariant 2: ${ss.id} rolled back with its model on ${model}`);
      // Invariant 2: every instance that exists now, the ones that appeared included.
      for (const [id, image] of instances) {
        if (image !== "prev")
          fail(t, `invariant 2: ${ss.id} rolled back with instance ${id} still on ${image}`);
      }
    }
    if (ss.state === "untouched" && (model === "target" || instances.some(([, image]) => image === "target")))
      fail(t, `invariant 2: ${ss.id} counted untouched but holds the target`);
    if (ss.state === "completed") {
      if (model !== "target") fail(t, `${ss.id} completed with its model on ${model}`);
      for (const [id, image] of instances) {
        if (image !== "target" && !ss.protectedInstanceIds.includes(id))
          fail(t, `${ss.id} completed with instance ${id} on ${image}`);
      }
    }
  }
  if (to.state === "rejected") {
    if (to.context.scaleSets.some((s) => s.modelWriteIssued)) fail(t, "rejected after a model write");
    if (!to.context.reason) fail(t, "rejected without a reason");
  }
  if ((to.state === "failed" || to.state === "rolledBack") && !to.context.reason)
    fail(t, "ended without a reason");
}
