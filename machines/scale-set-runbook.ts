/**
 * The rollout runbook for one scale set, step by step, as pure functions over a draft context:
 *
 *   setModelImage -> upgrade canary batch -> gates -> bake -> (approval) ->
 *   for each promotion batch: observe new instances (gate them like a batch) -> upgrade -> gates
 *   -> pause between batches -> completed; then the next waiting scale set of the wave starts (up
 *   to the parallel cap), and the next wave when this one is done.
 *
 * Approval: `afterCanary` asks once, in the first wave; `eachWave` asks in every wave. One
 * `approve` releases every scale set of the current wave that waits after its canary bake.
 *
 * Anything that goes wrong is reported through `ctx.rollbackRequest` (automatic rollback) or
 * `ctx.holdRequest` (pause); the machine (rollout.machine.ts) turns those into its phases, and
 * rollback-runbook.ts takes over.
 */
import type { Effect, OutcomeEvent } from "../src/domain/effects.ts";
import { formatImage } from "../src/domain/image-reference.ts";
import { scaleSetName } from "../src/domain/scale-set-id.ts";
import {
  type BatchProgress,
  cancelPending,
  emitEffect,
  note,
  type RolloutContext,
  retainedResult,
  type ScaleSetProgress,
} from "./context.ts";
import { RolloutInvariantError } from "./errors.ts";

export function maxParallel(ctx: RolloutContext): number {
  return Math.max(1, ctx.settings.maxParallelScaleSets ?? ctx.spec.strategy.maxParallelScaleSets);
}

/** Attempts a gate gets while answering inconclusive (the first evaluation included). */
export function maxGateAttempts(ctx: RolloutContext): number {
  const { inconclusiveTimeoutSeconds, gateRetrySeconds } = ctx.settings;
  return Math.max(1, Math.floor(inconclusiveTimeoutSeconds / Math.max(1, gateRetrySeconds)));
}

export function name(ss: ScaleSetProgress): string {
  return scaleSetName(ss.id);
}

function batchLabel(batch: BatchProgress, index: number): string {
  return batch.kind === "canary"
    ? "canary batch"
    : batch.kind === "newInstances"
      ? "new instances"
      : `batch ${index}`;
}

function currentBatch(ss: ScaleSetProgress): BatchProgress | undefined {
  return ss.batches[ss.currentBatch];
}

function addTouched(ss: ScaleSetProgress, ids: string[]): void {
  for (const id of ids) if (!ss.touchedInstanceIds.includes(id)) ss.touchedInstanceIds.push(id);
}

// ---------------------------------------------------------------- starting scale sets, wave by wave

/** Starts waiting scale sets of the current wave up to the cap; moves to the next wave when one is done. */
export function startNextScaleSets(ctx: RolloutContext): void {
  for (;;) {
    const wave = ctx.scaleSets.filter((s) => s.waveIndex === ctx.waveIndex);
    if (wave.length > 0 && wave.every((s) => s.step === "completed")) {
      const waveName = ctx.spec.waves[ctx.waveIndex]?.name ?? String(ctx.waveIndex);
      note(ctx, "wave.completed", `Wave ${waveName} completed`, { wave: waveName });
      ctx.waveIndex += 1;
      if (ctx.waveIndex >= ctx.spec.waves.length) {
        ctx.allDone = true;
        return;
      }
      continue;
    }
    let active = wave.filter((s) => s.step !== "waiting" && s.step !== "completed").length;
    for (const ss of wave) {
      if (active >= maxParallel(ctx)) break;
      if (ss.step !== "waiting") continue;
      if (active === 0 && wave.every((s) => s.step === "waiting")) {
        note(ctx, "wave.started", `Wave ${ss.wave} started`, { wave: ss.wave });
      }
      writeModel(ctx, ss);
      active += 1;
    }
    return;
  }
}

function writeModel(ctx: RolloutContext, ss: ScaleSetProgress): void {
  if (ctx.hold) {
    ss.step = "held";
    ss.resumeWith = "setModel";
    return;
  }
  if (!ss.previousImage)
    throw new RolloutInvariantError(`invariant 1: no previous image recorded for ${ss.id}`);
  ss.step = "settingModel";
  ss.modelWriteIssued = true;
  emitEffect(ctx, {
    kind: "setModelImage",
    scaleSetId: ss.id,
    target: ctx.targetImage,
    previous: ss.previousImage,
  });
}

// ---------------------------------------------------------------- batches

function upgradeBatch(ctx: RolloutContext, ss: ScaleSetProgress, index: number, instanceIds: string[]): void {
  const batch = ss.batches[index];
  if (!batch) return;
  ss.currentBatch = index;
  batch.status = "upgrading";
  ss.step = "upgrading";
  addTouched(ss, batch.instanceIds);
  note(
    ctx,
    "batch.upgrading",
    `${name(ss)} ${batchLabel(batch, index)}: upgrading ${instanceIds.join(", ")}`,
    {
      scaleSetId: ss.id,
      batch: index,
      kind: batch.kind,
      instanceIds,
    },
  );
  emitEffect(ctx, {
    kind: "upgradeInstances",
    scaleSetId: ss.id,
    instanceIds,
    image: ctx.targetImage,
    purpose: "rollout",
  });
}

function evaluateBatch(ctx: RolloutContext, ss: ScaleSetProgress, attempt: number): void {
  const batch = currentBatch(ss);
  if (!batch) return;
  batch.status = "gating";
  ss.step = "gating";
  ss.gateAttempt = attempt;
  emitEffect(ctx, {
    kind: "evaluateGates",
    scaleSetId: ss.id,
    instanceIds: batch.instanceIds,
    gates: ctx.spec.gates,
    maxUnhealthyPercent: ctx.spec.strategy.maxUnhealthyPercent,
    since: ss.gateSince ?? "",
    attempt,
  });
}

/** Before the next planned batch: look for instances that appeared (scale-out, repair). */
function observeThenContinue(ctx: RolloutContext, ss: ScaleSetProgress): void {
  if (ctx.hold) {
    ss.step = "held";
    ss.resumeWith = "observe";
    return;
  }
  ss.step = "observing";
  emitEffect(ctx, { kind: "observeScaleSet", scaleSetId: ss.id, knownInstanceIds: [...ss.knownInstanceIds] });
}

function nextPlannedBatch(ctx: RolloutContext, ss: ScaleSetProgress): void {
  const index = ss.batches.findIndex((b) => b.status === "pending");
  const batch = ss.batches[index];
  if (!batch) {
    ss.step = "completed";
    note(ctx, "scaleSet.completed", `${name(ss)}: every instance runs ${formatImage(ctx.targetImage)}`, {
      scaleSetId: ss.id,
      touchedInstanceIds: ss.touchedInstanceIds,
      protectedInstanceIds: ss.protectedInstanceIds,
    });
    startNextScaleSets(ctx);
    return;
  }
  upgradeBatch(ctx, ss, index, batch.instanceIds);
}

function approvalNeeded(ctx: RolloutContext, ss: ScaleSetProgress): boolean {
  const policy = ctx.spec.strategy.approval;
  if (policy === "none" || ctx.approvedWaves.includes(ss.waveIndex)) return false;
  return policy === "eachWave" || ss.waveIndex === 0;
}

function afterBake(ctx: RolloutContext, ss: ScaleSetProgress): void {
  if (!approvalNeeded(ctx, ss)) {
    observeThenContinue(ctx, ss);
    return;
  }
  ss.step = "awaitingApproval";
  note(ctx, "approval.requested", `${name(ss)}: canary baked; waiting for approval of wave ${ss.wave}`, {
    scaleSetId: ss.id,
    wave: ss.wave,
  });
  const timeout = ctx.spec.strategy.approvalTimeoutSeconds;
  if (timeout !== undefined && ctx.approvalTimerEffectId === undefined) {
    ctx.approvalTimerEffectId = emitEffect(ctx, {
      kind: "startTimer",
      timer: "approvalTimeout",
      delaySeconds: timeout,
    }).id;
  }
}

/** One `approve` approves the current wave: every scale set of it waiting now or later. */
export function approveWave(ctx: RolloutContext, actor: string, reason: string | undefined): void {
  const waveName = ctx.spec.waves[ctx.waveIndex]?.name ?? String(ctx.waveIndex);
  ctx.approvedWaves.push(ctx.waveIndex);
  note(
    ctx,
    "approval.given",
    `${actor} approved wave ${waveName}${reason ? `: ${reason}` : ""}`,
    { wave: waveName },
    actor,
  );
  if (ctx.approvalTimerEffectId) {
    const id = ctx.approvalTimerEffectId;
    cancelPending(ctx, (e) => e.id === id);
    ctx.approvalTimerEffectId = undefined;
  }
  for (const ss of ctx.scaleSets) {
    if (ss.step === "awaitingApproval" && ss.waveIndex === ctx.waveIndex) observeThenContinue(ctx, ss);
  }
}

export function awaitingApproval(ctx: RolloutContext): boolean {
  return ctx.scaleSets.some((s) => s.step === "awaitingApproval");
}

/** Resume after a pause: held scale sets take their next step, gate-held ones are re-evaluated. */
export function resumeScaleSets(ctx: RolloutContext): void {
  for (const ss of ctx.scaleSets) {
    if (ss.step === "held") {
      const how = ss.resumeWith;
      ss.resumeWith = undefined;
      if (how === "setModel") writeModel(ctx, ss);
      else observeThenContinue(ctx, ss);
    } else if (ss.step === "gateHeld") {
      evaluateBatch(ctx, ss, 1);
    }
  }
}

// ---------------------------------------------------------------- gate verdicts

function onGatesFailed(ctx: RolloutContext, ss: ScaleSetProgress, why: string): void {
  const batch = currentBatch(ss);
  if (batch) batch.status = "failed";
  if (ctx.spec.rollback.automatic) {
    ctx.rollbackRequest = { reason: why, actor: "canaryd" };
  } else {
    ss.step = "gateHeld";
    ctx.holdRequest = `${why}; automatic rollback is off: resume re-evaluates the gates, rollback reverts`;
  }
}

function onGatesPassed(ctx: RolloutContext, ss: ScaleSetProgress): void {
  const batch = currentBatch(ss);
  if (!batch) return;
  batch.status = "passed";
  if (batch.kind === "canary") {
    const bake = ctx.spec.strategy.bakeSeconds;
    if (bake > 0) {
      ss.step = "baking";
      emitEffect(ctx, { kind: "startTimer", timer: "bake", scaleSetId: ss.id, delaySeconds: bake });
    } else {
      afterBake(ctx, ss);
    }
    return;
  }
  if (batch.kind === "newInstances") {
    nextPlannedBatch(ctx, ss);
    return;
  }
  const pause = ctx.spec.strategy.pauseBetweenBatchesSeconds;
  const morePlanned = ss.batches.some((b) => b.status === "pending");
  if (pause > 0 && morePlanned) {
    ss.step = "betweenBatches";
    emitEffect(ctx, {
      kind: "startTimer",
      timer: "pauseBetweenBatches",
      scaleSetId: ss.id,
      delaySeconds: pause,
    });
  } else {
    observeThenContinue(ctx, ss);
  }
}

function onGatesEvaluated(
  ctx: RolloutContext,
  ss: ScaleSetProgress,
  event: Extract<OutcomeEvent, { type: "gates.evaluated" }>,
): void {
  const batch = currentBatch(ss);
  if (!batch) return;
  batch.gateResults.push(...event.results.map(retainedResult));
  const label = batchLabel(batch, ss.currentBatch);
  const summary = event.results.map((r) => `${r.gate} ${r.verdict}: ${r.summary}`).join("; ");
  note(
    ctx,
    "gates.evaluated",
    `${name(ss)} ${label}: gates ${event.verdict}${summary ? ` (${summary})` : ""}`,
    {
      scaleSetId: ss.id,
      batch: ss.currentBatch,
      attempt: ss.gateAttempt,
      verdict: event.verdict,
      results: event.results,
    },
  );
  if (event.verdict === "passed") {
    onGatesPassed(ctx, ss);
    return;
  }
  if (event.verdict === "failed") {
    const platform = event.results.some((r) => r.verdict === "failed" && r.platformFailure);
    const failedGates = event.results.filter((r) => r.verdict === "failed").map((r) => r.gate);
    onGatesFailed(
      ctx,
      ss,
      `${name(ss)} ${label}: ${platform ? "platform failure (not the image)" : "gate failed"}: ${
        failedGates.join(", ") || "gates"
      }`,
    );
    return;
  }
  if (ss.gateAttempt < maxGateAttempts(ctx)) {
    ss.step = "gateRetry";
    emitEffect(ctx, {
      kind: "startTimer",
      timer: "gateRetry",
      scaleSetId: ss.id,
      delaySeconds: ctx.settings.gateRetrySeconds,
    });
    return;
  }
  // Inconclusive for too long: the gates that could not answer decide; any `fail` wins over `pause`.
  const undecided = event.results.filter((r) => r.verdict === "inconclusive").map((r) => r.gate);
  const specs = ctx.spec.gates.filter((g) => undecided.includes(g.kind));
  const pause = specs.length > 0 && specs.every((g) => g.onInconclusive === "pause");
  const why = `${name(ss)} ${label}: gates inconclusive for ${ctx.settings.inconclusiveTimeoutSeconds}s (${
    undecided.join(", ") || "no answer"
  })`;
  if (pause) {
    ss.step = "gateHeld";
    ctx.holdRequest = `${why}; onInconclusive is pause: resume re-evaluates, rollback reverts`;
  } else {
    onGatesFailed(ctx, ss, why);
  }
}

// ---------------------------------------------------------------- outcomes while rolling out

/** Applies an outcome for a rollout-purpose effect of this scale set. */
export function applyRolloutOutcome(
  ctx: RolloutContext,
  ss: ScaleSetProgress,
  effect: Effect,
  event: OutcomeEvent,
): void {
  switch (event.type) {
    case "model.updated":
      note(ctx, "model.updated", `${name(ss)}: model set to ${formatImage(ctx.targetImage)}`, {
        scaleSetId: ss.id,
        previous: ss.previousImage,
        target: ctx.targetImage,
      });
      upgradeBatch(ctx, ss, 0, ss.batches[0]?.instanceIds ?? []);
      if (ss.batches.length === 0) nextPlannedBatch(ctx, ss);
      return;
    case "model.conflict":
      ss.conflict = { found: event.found };
      ss.modelWriteIssued = false;
      note(
        ctx,
        "model.conflict",
        `${name(ss)}: model holds ${formatImage(event.found)}, set by someone else`,
        {
          scaleSetId: ss.id,
          found: event.found,
        },
      );
      ctx.rollbackRequest = {
        reason: `${name(ss)} was changed by someone else (model holds ${formatImage(event.found)}); canaryd did not overwrite it`,
        actor: "canaryd",
      };
      return;
    case "instances.upgraded": {
      const batch = currentBatch(ss);
      if (!batch) return;
      note(ctx, "instances.upgraded", `${name(ss)} ${batchLabel(batch, ss.currentBatch)}: upgraded`, {
        scaleSetId: ss.id,
        instanceIds: batch.instanceIds,
      });
      ss.gateSince = event.at;
      evaluateBatch(ctx, ss, 1);
      return;
    }
    case "instances.upgradeFailed":
      note(ctx, "instances.upgradeFailed", `${name(ss)}: upgrade failed: ${event.reason}`, {
        scaleSetId: ss.id,
        platformFailure: event.platformFailure,
      });
      ctx.rollbackRequest = {
        reason: `${name(ss)}: upgrade failed${event.platformFailure ? " (platform failure, not the image)" : ""}: ${event.reason}`,
        actor: "canaryd",
      };
      return;
    case "scaleSet.observed":
      onObserved(ctx, ss, event);
      return;
    case "gates.evaluated":
      onGatesEvaluated(ctx, ss, event);
      return;
    case "timer.fired":
      if (effect.kind !== "startTimer") return;
      if (effect.timer === "bake") {
        note(ctx, "bake.completed", `${name(ss)}: canary baked for ${effect.delaySeconds}s`, {
          scaleSetId: ss.id,
        });
        afterBake(ctx, ss);
      } else if (effect.timer === "pauseBetweenBatches") {
        note(ctx, "pause.completed", `${name(ss)}: ${effect.delaySeconds}s pause between batches over`, {
          scaleSetId: ss.id,
        });
        observeThenContinue(ctx, ss);
      } else if (effect.timer === "gateRetry") {
        note(
          ctx,
          "gates.retry",
          `${name(ss)}: evaluating inconclusive gates again (attempt ${ss.gateAttempt + 1})`,
          {
            scaleSetId: ss.id,
          },
        );
        evaluateBatch(ctx, ss, ss.gateAttempt + 1);
      }
      return;
    case "effect.failed":
      note(ctx, "effect.failed", `${name(ss)}: ${effect.kind} could not be done: ${event.reason}`, {
        scaleSetId: ss.id,
        effect: effect.kind,
      });
      ctx.rollbackRequest = {
        reason: `${name(ss)}: ${effect.kind} failed on the platform: ${event.reason}`,
        actor: "canaryd",
      };
      return;
    default:
      return;
  }
}

function onObserved(
  ctx: RolloutContext,
  ss: ScaleSetProgress,
  event: Extract<OutcomeEvent, { type: "scaleSet.observed" }>,
): void {
  const fresh = event.newInstances.filter((i) => !ss.knownInstanceIds.includes(i.instanceId));
  for (const i of fresh) ss.knownInstanceIds.push(i.instanceId);
  const protectedIds = fresh.filter((i) => i.protectedFromScaleSetActions).map((i) => i.instanceId);
  ss.protectedInstanceIds.push(...protectedIds);
  const gated = fresh.filter((i) => !i.protectedFromScaleSetActions);
  if (gated.length === 0) {
    nextPlannedBatch(ctx, ss);
    return;
  }
  const ids = gated.map((i) => i.instanceId);
  note(
    ctx,
    "instances.appeared",
    `${name(ss)}: ${ids.length} new instance(s) appeared; gating them like a batch`,
    {
      scaleSetId: ss.id,
      instanceIds: ids,
      protectedInstanceIds: protectedIds,
    },
  );
  ss.batches.push({ kind: "newInstances", instanceIds: ids, status: "pending", gateResults: [] });
  const index = ss.batches.length - 1;
  // Instances created from the old model (before our write) need the upgrade; the rest already run the target.
  const stale = gated.filter((i) => !i.latestModelApplied).map((i) => i.instanceId);
  if (stale.length > 0) {
    upgradeBatch(ctx, ss, index, stale);
    return;
  }
  ss.currentBatch = index;
  addTouched(ss, ids);
  ss.gateSince = event.at;
  evaluateBatch(ctx, ss, 1);
}
