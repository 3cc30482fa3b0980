/**
 * The rollback runbook for one scale set, as pure functions over a draft context:
 *
 *   wait for a model write or rollout upgrade still in flight -> revertModel to exactly the
 *   recorded previous image -> upgrade every touched instance back -> instanceHealth gate ->
 *   rolledBack. Any failure on the way marks the scale set rollbackFailed (the rollout ends
 *   `failed`: a human must look). A model that someone else changed is never overwritten.
 */
import type { Effect, OutcomeEvent } from "../src/domain/effects.ts";
import { formatImage } from "../src/domain/image-reference.ts";
import type { GateSpec } from "../src/domain/spec.ts";
import {
  cancelPending,
  emitEffect,
  note,
  type RolloutContext,
  retainedResult,
  type ScaleSetProgress,
} from "./context.ts";
import { RolloutInvariantError } from "./errors.ts";
import { maxGateAttempts, name } from "./scale-set-runbook.ts";

/** Rollback verifies that the instances are back and healthy; the image-specific gates do not apply. */
const rollbackGates: GateSpec[] = [{ kind: "instanceHealth", onInconclusive: "fail" }];

/** Starts the rollback of every scale set the rollout touched (invariant 2). */
export function beginRollback(ctx: RolloutContext): void {
  const request = ctx.rollbackRequest ?? { reason: "rollback requested", actor: "canaryd" };
  ctx.rollbackRequest = undefined;
  ctx.holdRequest = undefined;
  ctx.hold = false;
  ctx.reason = request.reason;
  ctx.approvalTimerEffectId = undefined;
  note(ctx, "rollback.started", `Rolling back: ${request.reason}`, { reason: request.reason }, request.actor);
  // Reads, gates and timers no longer matter; a model write or upgrade in flight must land first.
  const inFlight = (e: Effect) =>
    e.kind === "setModelImage" || (e.kind === "upgradeInstances" && e.purpose === "rollout");
  cancelPending(ctx, (e) => !inFlight(e));
  for (const ss of ctx.scaleSets) {
    if (!ss.modelWriteIssued) {
      ss.step = "untouched";
      continue;
    }
    const waiting = Object.values(ctx.pending).some((e) => "scaleSetId" in e && e.scaleSetId === ss.id);
    if (waiting) ss.step = "rollbackWaitingInFlight";
    else revert(ctx, ss);
  }
}

function revert(ctx: RolloutContext, ss: ScaleSetProgress): void {
  if (!ss.previousImage)
    throw new RolloutInvariantError(`invariant 1: no previous image recorded for ${ss.id}`);
  ss.step = "reverting";
  ss.gateAttempt = 0;
  emitEffect(ctx, {
    kind: "revertModel",
    scaleSetId: ss.id,
    previous: ss.previousImage,
    target: ctx.targetImage,
  });
}

function rollbackFailed(ctx: RolloutContext, ss: ScaleSetProgress, why: string): void {
  ss.step = "rollbackFailed";
  ss.failure = why;
  note(ctx, "rollback.scaleSetFailed", `${name(ss)}: rollback could not finish: ${why}`, {
    scaleSetId: ss.id,
  });
}

function rollbackGate(ctx: RolloutContext, ss: ScaleSetProgress, attempt: number): void {
  ss.step = "rollbackGating";
  ss.gateAttempt = attempt;
  emitEffect(ctx, {
    kind: "evaluateGates",
    scaleSetId: ss.id,
    instanceIds: [...ss.touchedInstanceIds],
    gates: rollbackGates,
    maxUnhealthyPercent: ctx.spec.strategy.maxUnhealthyPercent,
    since: ss.gateSince ?? "",
    attempt,
  });
}

/** Applies an outcome for an effect of this scale set while the rollout rolls back. */
export function applyRollbackOutcome(
  ctx: RolloutContext,
  ss: ScaleSetProgress,
  effect: Effect,
  event: OutcomeEvent,
): void {
  if (ss.step === "rollbackWaitingInFlight") {
    if (event.type === "model.conflict") {
      ss.conflict = { found: event.found };
      ss.modelWriteIssued = false;
      ss.step = "untouched";
      note(
        ctx,
        "model.conflict",
        `${name(ss)}: model holds ${formatImage(event.found)}, set by someone else`,
        {
          scaleSetId: ss.id,
          found: event.found,
        },
      );
      return;
    }
    note(
      ctx,
      "rollback.inFlightDone",
      `${name(ss)}: ${effect.kind} in flight finished (${event.type}); reverting`,
      {
        scaleSetId: ss.id,
      },
    );
    revert(ctx, ss);
    return;
  }
  switch (event.type) {
    case "model.reverted":
      note(ctx, "model.reverted", `${name(ss)}: model back on ${formatImage(ss.previousImage ?? {})}`, {
        scaleSetId: ss.id,
        previous: ss.previousImage,
      });
      if (ss.touchedInstanceIds.length === 0) {
        ss.step = "rolledBack";
        return;
      }
      ss.step = "rollbackUpgrading";
      emitEffect(ctx, {
        kind: "upgradeInstances",
        scaleSetId: ss.id,
        instanceIds: [...ss.touchedInstanceIds],
        image: ss.previousImage ?? {},
        purpose: "rollback",
      });
      return;
    case "model.conflict":
      rollbackFailed(
        ctx,
        ss,
        `model holds ${formatImage(event.found)}, set by someone else; not overwritten`,
      );
      return;
    case "instances.upgraded":
      note(ctx, "instances.upgraded", `${name(ss)}: touched instances upgraded back`, {
        scaleSetId: ss.id,
        instanceIds: ss.touchedInstanceIds,
      });
      ss.gateSince = event.at;
      rollbackGate(ctx, ss, 1);
      return;
    case "instances.upgradeFailed":
      rollbackFailed(ctx, ss, `upgrade back failed: ${event.reason}`);
      return;
    case "gates.evaluated":
      ss.rollbackResults.push(...event.results.map(retainedResult));
      note(ctx, "gates.evaluated", `${name(ss)} rollback: instanceHealth ${event.verdict}`, {
        scaleSetId: ss.id,
        verdict: event.verdict,
        results: event.results,
      });
      if (event.verdict === "passed") ss.step = "rolledBack";
      else if (event.verdict === "failed") rollbackFailed(ctx, ss, "instances unhealthy after rollback");
      else if (ss.gateAttempt < maxGateAttempts(ctx)) {
        ss.step = "rollbackGateRetry";
        emitEffect(ctx, {
          kind: "startTimer",
          timer: "gateRetry",
          scaleSetId: ss.id,
          delaySeconds: ctx.settings.gateRetrySeconds,
        });
      } else rollbackFailed(ctx, ss, "instance health stayed inconclusive after rollback");
      return;
    case "timer.fired":
      if (ss.step !== "rollbackGateRetry") return;
      note(
        ctx,
        "gates.retry",
        `${name(ss)} rollback: evaluating instance health again (attempt ${ss.gateAttempt + 1})`,
        {
          scaleSetId: ss.id,
        },
      );
      rollbackGate(ctx, ss, ss.gateAttempt + 1);
      return;
    case "effect.failed":
      rollbackFailed(ctx, ss, `${effect.kind} failed: ${event.reason}`);
      return;
    default:
      return;
  }
}

export function rollbackFinished(ctx: RolloutContext): boolean {
  return ctx.scaleSets.every(
    (s) => s.step === "rolledBack" || s.step === "rollbackFailed" || s.step === "untouched",
  );
}
