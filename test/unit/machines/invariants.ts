/** The design's invariants as checks on one transition of the explorer (explore.ts). */

import type { PersistedRollout } from "../../../machines/decide.ts";
import { describePhase } from "../../../machines/describe.ts";
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
  if (decision.timeline.length === 0) fail(t, "an accepted event must leave a line in the release record");
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
    if (e.kind === "upgradeInstances" && e.purpose === "rollback") {
      const touched = scaleSet(to, e.scaleSetId)?.touchedInstanceIds ?? [];
      if (JSON.stringify(e.image) !== JSON.stringify(recorded))
        fail(t, "invariant 2: rollback upgrade to another image");
      if ([...e.instanceIds].sort().join() !== [...touched].sort().join()) {
        fail(t, "invariant 2: rollback upgrade does not cover exactly the touched instances");
      }
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
  if (["rolledBack", "rejected", "failed"].includes(from.state.state))
    fail(t, "a final state accepted an event");

  // Nothing stuck: a live rollout with nothing pending waits for a person.
  if (!terminalPhases.has(phase) && Object.keys(to.context.pending).length === 0) {
    if (phase !== "paused" && phase !== "awaitingApproval") fail(t, `stuck in ${phase} with nothing pending`);
  }

  // The simulated fleet ends where the phase says it does.
  if (to.state === "rolledBack") {
    for (const ss of to.context.scaleSets) {
      const model = t.to.world.models[ss.id];
      if (model !== "prev" && !(ss.conflict && model === "other"))
        fail(t, `invariant 2: ${ss.id} model is ${model}`);
      for (const [id, image] of Object.entries(t.to.world.instances[ss.id] ?? {})) {
        if (image !== "prev") fail(t, `invariant 2: instance ${id} of ${ss.id} still on ${image}`);
      }
    }
  }
  if (to.state === "completed") {
    for (const ss of to.context.scaleSets) {
      if (t.to.world.models[ss.id] !== "target") fail(t, `completed but ${ss.id} model is not the target`);
      for (const [id, image] of Object.entries(t.to.world.instances[ss.id] ?? {})) {
        if (image !== "target" && !ss.protectedInstanceIds.includes(id)) {
          fail(t, `completed but instance ${id} of ${ss.id} is on ${image}`);
        }
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
