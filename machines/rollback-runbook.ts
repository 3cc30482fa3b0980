/**
 * Rollback as convergence: the rollback half of a scale set's statechart, a reconcile loop.
 *
 * Desired state of a rolled-back scale set: its model names exactly the recorded previous image,
 * and every instance that exists now (listed fresh, instances that appeared during the rollout or
 * the rollback included) runs it with the latest model applied. The loop:
 *
 *   (wait for a change of ours still in flight) -> reverting (model back, read first) ->
 *   inspecting (read model and every instance) -> all converged? rolledBack :
 *   rollbackUpgrading (at most rollback.batchPercent of the instances) -> rollbackVerifying
 *   (instance health) -> inspecting again ...
 *
 * Never gives up silently (invariant 7): a transient failure (`effect.failed` with `transient`,
 * an upgrade the platform failed) waits with capped exponential backoff and starts the loop again
 * from the top, for as long as `rollbackPersistSeconds` since the rollback began. A permanent one
 * (authorization, a deleted scale set, someone else's model, instances unhealthy on the previous
 * image) stops the scale set in `rollbackFailed` at once with the reason. The rollout then ends
 * `failed` and keeps its claim on every scale set not converged, until on-call rolls back again
 * (the loop resumes) or releases them.
 */
import type { Effect, OutcomeEvent } from "../src/domain/effects.ts";
import { formatImage } from "../src/domain/image-reference.ts";
import type { GateSpec } from "../src/domain/spec.ts";
import { maxGateAttempts, stopAnalysis } from "./analysis.ts";
import {
  cancelPending,
  emitEffect,
  enter,
  note,
  type RolloutContext,
  retainedResult,
  type ScaleSetProgress,
} from "./context.ts";
import { RolloutInvariantError } from "./errors.ts";
import { name } from "./scale-set-runbook.ts";

type Outcome<T extends OutcomeEvent["type"]> = Extract<OutcomeEvent, { type: T }>;

/** Rollback verifies that the instances are back and healthy; the image-specific gates do not apply. */
const rollbackGates: GateSpec[] = [{ kind: "instanceHealth", onInconclusive: "fail" }];

export const defaultRollbackPersistSeconds = 14_400;
const defaultRollbackRetrySeconds = 10;
const maxRollbackRetrySeconds = 300;

const settled = new Set(["rolledBack", "untouched"]);

/** Scale sets whose rollback stopped short of the desired state: the rollout keeps its claim on them. */
export function unconverged(ctx: RolloutContext): ScaleSetProgress[] {
  return ctx.scaleSets.filter((s) => s.state === "rollbackFailed");
}

/**
 * Entry of the rollout's `rollingBack`: starts the loop on every scale set that holds something
 * of ours. Also the resumption of a `failed` rollout: scale sets already converged stay so.
 */
export function beginRollback(ctx: RolloutContext, at: string): void {
  const request = ctx.rollbackRequest ?? { reason: "rollback requested", actor: "canaryd" };
  ctx.rollbackRequest = undefined;
  ctx.holdRequest = undefined;
  ctx.hold = false;
  ctx.reason = request.reason;
  ctx.approvalTimerEffectId = undefined;
  note(
    ctx,
    "rollback.started",
    `Rolling back: ${request.reason}`,
    { reason: request.reason, cause: request.cause ?? "rollback" },
    request.actor,
  );
  // Reads, gates and timers no longer matter; a model write or upgrade in flight must land first.
  const inFlight = (e: Effect) =>
    e.kind === "setModelImage" || (e.kind === "upgradeInstances" && e.purpose === "rollout");
  cancelPending(ctx, (e) => !inFlight(e));
  for (const ss of ctx.scaleSets) {
    stopAnalysis(ctx, ss);
    ss.resumeWith = undefined;
    if (settled.has(ss.state)) continue;
    if (!ss.modelWriteIssued) {
      enter(ss, "untouched");
      continue;
    }
    ss.rollback.startedAt = at;
    ss.rollback.retries = 0;
    ss.failure = undefined;
    const waiting = Object.values(ctx.pending).some((e) => "scaleSetId" in e && e.scaleSetId === ss.id);
    if (waiting) enter(ss, "rollbackWaitingInFlight");
    else revert(ctx, ss);
  }
}

function revert(ctx: RolloutContext, ss: ScaleSetProgress): void {
  if (!ss.previousImage)
    throw new RolloutInvariantError(`invariant 1: no previous image recorded for ${ss.id}`);
  enter(ss, "reverting");
  emitEffect(ctx, {
    kind: "revertModel",
    scaleSetId: ss.id,
    previous: ss.previousImage,
    target: ctx.targetImage,
  });
}

function inspect(ctx: RolloutContext, ss: ScaleSetProgress): void {
  enter(ss, "inspecting");
  emitEffect(ctx, {
    kind: "inspectScaleSet",
    scaleSetId: ss.id,
    image: ss.previousImage ?? {},
    target: ctx.targetImage,
  });
}

function stop(ctx: RolloutContext, ss: ScaleSetProgress, why: string): void {
  enter(ss, "rollbackFailed");
  ss.failure = why;
  ss.rollback.lastError = why;
  note(ctx, "rollback.scaleSetFailed", `${name(ss)}: rollback stopped: ${why}`, {
    scaleSetId: ss.id,
    reason: why,
  });
}

function backoffSeconds(ctx: RolloutContext, ss: ScaleSetProgress): number {
  const base = ctx.settings.rollbackRetrySeconds ?? defaultRollbackRetrySeconds;
  const capped = Math.min(maxRollbackRetrySeconds, base * 2 ** Math.min(16, ss.rollback.retries - 1));
  // Jitter without a random source (the machine is pure): derived from the scale set and attempt,
  // so scale sets retrying together spread out by up to a fifth of the wait.
  let hash = ss.rollback.retries;
  for (const ch of ss.id) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return Math.max(1, Math.round(capped * (1 - (hash % 1000) / 5000)));
}

/** A failure on the way: transient ones wait and start the loop again, within the persistence budget. */
function retryOrStop(
  ctx: RolloutContext,
  ss: ScaleSetProgress,
  at: string,
  reason: string,
  transient: boolean,
): void {
  const budget = ctx.settings.rollbackPersistSeconds ?? defaultRollbackPersistSeconds;
  const elapsed = (Date.parse(at) - Date.parse(ss.rollback.startedAt ?? at)) / 1000;
  if (!transient) {
    stop(ctx, ss, `${reason} (permanent: not retried)`);
    return;
  }
  if (elapsed >= budget) {
    stop(
      ctx,
      ss,
      `${reason} (still failing after ${Math.round(elapsed)}s of retries; rollbackPersistSeconds is ${budget})`,
    );
    return;
  }
  ss.rollback.retries += 1;
  ss.rollback.lastError = reason;
  const delaySeconds = backoffSeconds(ctx, ss);
  enter(ss, "rollbackRetryWait");
  note(
    ctx,
    "rollback.retry",
    `${name(ss)}: ${reason}; retrying the rollback in ${delaySeconds}s (retry ${ss.rollback.retries})`,
    {
      scaleSetId: ss.id,
      retry: ss.rollback.retries,
      delaySeconds,
      reason,
    },
  );
  emitEffect(ctx, { kind: "startTimer", timer: "rollbackRetry", scaleSetId: ss.id, delaySeconds });
}

function verifyHealth(ctx: RolloutContext, ss: ScaleSetProgress, attempt: number, at: string): void {
  enter(ss, "rollbackVerifying");
  ss.gateAttempt = attempt;
  emitEffect(ctx, {
    kind: "evaluateGates",
    scaleSetId: ss.id,
    purpose: "rollback",
    instanceIds: [...ss.rollback.batch],
    gates: rollbackGates,
    maxUnhealthyPercent: ctx.spec.strategy.maxUnhealthyPercent,
    since: at,
    attempt,
  });
}

// ---------------------------------------------------------------- outcomes, by state (scale-set.chart.ts)

/** A change of ours was in flight when the rollback began: whatever it did, the loop reads and reverts. */
export function onInFlightDone(
  ctx: RolloutContext,
  ss: ScaleSetProgress,
  event: OutcomeEvent,
  effect: Effect,
): void {
  if (event.type === "model.conflict" && effect.kind === "setModelImage") {
    // Our first write never happened: nothing of ours is on this scale set.
    ss.conflict = { found: event.found };
    ss.modelWriteIssued = false;
    enter(ss, "untouched");
    note(
      ctx,
      "model.conflict",
      `${name(ss)}: model holds ${formatImage(event.found)}, set by someone else; nothing of ours to revert`,
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
}

export function onReverted(ctx: RolloutContext, ss: ScaleSetProgress): void {
  note(ctx, "model.reverted", `${name(ss)}: model back on ${formatImage(ss.previousImage ?? {})}`, {
    scaleSetId: ss.id,
    previous: ss.previousImage,
  });
  inspect(ctx, ss);
}

/** Someone else's image is in the model: canaryd does not overwrite it, and cannot converge. */
export function onRollbackConflict(
  ctx: RolloutContext,
  ss: ScaleSetProgress,
  event: Outcome<"model.conflict">,
): void {
  ss.conflict = { found: event.found };
  note(ctx, "model.conflict", `${name(ss)}: model holds ${formatImage(event.found)}, set by someone else`, {
    scaleSetId: ss.id,
    found: event.found,
  });
  stop(
    ctx,
    ss,
    `model holds ${formatImage(event.found)}, set by someone else; canaryd did not overwrite it and upgraded nothing`,
  );
}

/** The level-triggered read: compare what exists with the desired state and act on the difference. */
export function onInspected(
  ctx: RolloutContext,
  ss: ScaleSetProgress,
  event: Outcome<"scaleSet.inspected">,
): void {
  if (!event.modelOnImage) {
    note(
      ctx,
      "rollback.modelDrift",
      `${name(ss)}: model holds ${formatImage(event.model ?? {})}; reverting it again`,
      {
        scaleSetId: ss.id,
        found: event.model,
      },
    );
    revert(ctx, ss);
    return;
  }
  // Back: on the image with the latest model applied. An instance this loop already upgraded that
  // runs the image but still reports an older model (a model property someone else changed) counts
  // as back, so the loop cannot upgrade it without end.
  const reverted = new Set(ss.rollback.revertedInstanceIds);
  const notBack = event.instances.filter(
    (i) => !i.onImage || (!i.latestModelApplied && !reverted.has(i.instanceId)),
  );
  // A protected instance is left alone by a manual upgrade. One that never took the target is
  // not canaryd's (the rollout skipped it too); one that runs the target cannot be taken back.
  const protectedOnTarget = notBack
    .filter((i) => i.protectedFromScaleSetActions && i.onTarget !== false)
    .map((i) => i.instanceId);
  const stale = notBack.filter((i) => !i.protectedFromScaleSetActions).map((i) => i.instanceId);
  for (const i of event.instances)
    if (!ss.knownInstanceIds.includes(i.instanceId)) ss.knownInstanceIds.push(i.instanceId);

  // The others first: instances that can be taken back are, before the loop stops on what cannot.
  if (stale.length === 0 && protectedOnTarget.length > 0) {
    stop(
      ctx,
      ss,
      `instances ${protectedOnTarget.join(", ")} run ${formatImage(ctx.targetImage)} and are protected from scale-set actions; a manual upgrade cannot take them back`,
    );
    return;
  }
  if (stale.length === 0) {
    enter(ss, "rolledBack");
    note(
      ctx,
      "scaleSet.rolledBack",
      `${name(ss)}: model and all ${event.instances.length} instance(s) on ${formatImage(ss.previousImage ?? {})}`,
      {
        scaleSetId: ss.id,
        instanceIds: event.instances.map((i) => i.instanceId),
        revertedInstanceIds: ss.rollback.revertedInstanceIds,
      },
    );
    return;
  }
  const size = Math.max(1, Math.ceil((event.instances.length * ctx.spec.rollback.batchPercent) / 100));
  ss.rollback.batch = stale.slice(0, size);
  const unknown = stale.filter((id) => !ss.touchedInstanceIds.includes(id));
  enter(ss, "rollbackUpgrading");
  note(
    ctx,
    "rollback.upgrading",
    `${name(ss)}: ${stale.length} instance(s) not on ${formatImage(ss.previousImage ?? {})}; upgrading ${ss.rollback.batch.join(", ")}${
      unknown.length > 0 ? ` (${unknown.join(", ")} appeared during the rollout)` : ""
    }`,
    { scaleSetId: ss.id, instanceIds: ss.rollback.batch, notBack: stale, appeared: unknown },
  );
  emitEffect(ctx, {
    kind: "upgradeInstances",
    scaleSetId: ss.id,
    instanceIds: [...ss.rollback.batch],
    image: ss.previousImage ?? {},
    purpose: "rollback",
  });
}

export function onRollbackUpgraded(
  ctx: RolloutContext,
  ss: ScaleSetProgress,
  event: Outcome<"instances.upgraded">,
): void {
  note(ctx, "instances.upgraded", `${name(ss)}: ${ss.rollback.batch.join(", ")} upgraded back`, {
    scaleSetId: ss.id,
    instanceIds: ss.rollback.batch,
  });
  verifyHealth(ctx, ss, 1, event.at);
}

export function onRollbackUpgradeFailed(
  ctx: RolloutContext,
  ss: ScaleSetProgress,
  event: Outcome<"instances.upgradeFailed">,
): void {
  // The loop reads again after the wait: an instance that came back meanwhile is not upgraded twice.
  retryOrStop(ctx, ss, event.at, `upgrade back failed: ${event.reason}`, true);
}

export function onRollbackEffectFailed(
  ctx: RolloutContext,
  ss: ScaleSetProgress,
  event: Outcome<"effect.failed">,
  effect: Effect,
): void {
  retryOrStop(ctx, ss, event.at, `${effect.kind} failed: ${event.reason}`, event.transient !== false);
}

export function onRollbackHealth(
  ctx: RolloutContext,
  ss: ScaleSetProgress,
  event: Outcome<"gates.evaluated">,
): void {
  ss.rollbackResults.push(...event.results.map(retainedResult));
  note(ctx, "gates.evaluated", `${name(ss)} rollback: instanceHealth ${event.verdict}`, {
    scaleSetId: ss.id,
    verdict: event.verdict,
    results: event.results,
  });
  if (event.verdict === "passed") {
    for (const id of ss.rollback.batch)
      if (!ss.rollback.revertedInstanceIds.includes(id)) ss.rollback.revertedInstanceIds.push(id);
    ss.rollback.batch = [];
    inspect(ctx, ss);
  } else if (event.verdict === "failed")
    stop(ctx, ss, "instances unhealthy on the previous image after the rollback");
  else if (ss.gateAttempt < maxGateAttempts(ctx)) {
    enter(ss, "rollbackGateRetry");
    emitEffect(ctx, {
      kind: "startTimer",
      timer: "gateRetry",
      scaleSetId: ss.id,
      delaySeconds: ctx.settings.gateRetrySeconds,
    });
  } else stop(ctx, ss, "instance health stayed inconclusive after the rollback");
}

export function onRollbackTimer(
  ctx: RolloutContext,
  ss: ScaleSetProgress,
  event: Outcome<"timer.fired">,
  effect: Effect,
): void {
  if (effect.kind !== "startTimer") return;
  if (effect.timer === "gateRetry") {
    note(
      ctx,
      "gates.retry",
      `${name(ss)} rollback: evaluating instance health again (attempt ${ss.gateAttempt + 1})`,
      {
        scaleSetId: ss.id,
      },
    );
    verifyHealth(ctx, ss, ss.gateAttempt + 1, event.at);
    return;
  }
  note(ctx, "rollback.resumed", `${name(ss)}: retrying the rollback from the top (read, compare, act)`, {
    scaleSetId: ss.id,
  });
  revert(ctx, ss);
}

export function rollbackFinished(ctx: RolloutContext): boolean {
  return ctx.scaleSets.every((s) => settled.has(s.state) || s.state === "rollbackFailed");
}
