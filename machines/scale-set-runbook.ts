/**
 * What a scale set does while it rolls out: the actions of the rollout half of its statechart
 * (scale-set.chart.ts says which outcome, in which state, runs which of these):
 *
 *   waiting -> settingModel -> upgrading canary -> verifyingBatch -> baking -> verifyingBake ->
 *   (awaitingApproval) -> observing -> upgrading batch i -> verifyingBatch -> (betweenBatches) ->
 *   observing -> ... -> completed; then the next waiting scale set of the wave starts (up to the
 *   parallel cap), and the next wave when this one is done (once its change window is open:
 *   window-gate.ts).
 *
 * Gates are the analysis region's business (analysis.ts): it watches from the canary's return to
 * completion and answers the verdicts the runbook asks for. Every change (model write, instance
 * upgrade, and the read that precedes a batch) goes through `whenFree`: while the rollout is
 * paused the scale set parks in `held` with what it was about to do, so nothing new starts from
 * any path until `resume`. Anything that must be reverted goes through `requestRollback`.
 */
import type { Effect, OutcomeEvent } from "../src/domain/effects.ts";
import { formatImage } from "../src/domain/image-reference.ts";
import { scaleSetName } from "../src/domain/scale-set-id.ts";
import { type AnalysisListener, startAnalysis, stopAnalysis, wantVerdict } from "./analysis.ts";
import {
  type BatchProgress,
  batchLabel,
  type Continuation,
  cancelPending,
  emitEffect,
  enter,
  note,
  type RolloutContext,
  type ScaleSetProgress,
} from "./context.ts";
import { RolloutInvariantError } from "./errors.ts";
import { requestRollback } from "./rollback-request.ts";
import { windowLetsWaveStart } from "./window-gate.ts";

/** Scale sets of one wave moving at once: the spec's value, capped by the operator's. */
export function maxParallel(ctx: RolloutContext): number {
  const wanted = ctx.spec.strategy.maxParallelScaleSets;
  const cap = ctx.settings.maxParallelScaleSets ?? wanted;
  return Math.max(1, Math.min(wanted, cap));
}

export function name(ss: ScaleSetProgress): string {
  return scaleSetName(ss.id);
}

function currentBatch(ss: ScaleSetProgress): BatchProgress | undefined {
  return ss.batches[ss.currentBatch];
}

function addTouched(ss: ScaleSetProgress, ids: string[]): void {
  for (const id of ids) if (!ss.touchedInstanceIds.includes(id)) ss.touchedInstanceIds.push(id);
}

const idle = new Set(["waiting", "completed"]);

// ---------------------------------------------------------------- starting scale sets, wave by wave

/** Starts waiting scale sets of the current wave up to the cap; moves to the next wave when one is done. */
export function startNextScaleSets(ctx: RolloutContext): void {
  for (;;) {
    const wave = ctx.scaleSets.filter((s) => s.waveIndex === ctx.waveIndex);
    if (wave.length > 0 && wave.every((s) => s.state === "completed")) {
      const waveName = ctx.spec.waves[ctx.waveIndex]?.name ?? String(ctx.waveIndex);
      note(ctx, "wave.completed", `Wave ${waveName} completed`, { wave: waveName });
      ctx.waveIndex += 1;
      if (ctx.waveIndex >= ctx.spec.waves.length) {
        ctx.allDone = true;
        return;
      }
      continue;
    }
    let active = wave.filter((s) => !idle.has(s.state)).length;
    // Before a wave's first scale set starts (never mid-wave): its change window must be open.
    if (active === 0 && wave.every((s) => s.state === "waiting") && !windowLetsWaveStart(ctx)) return;
    for (const ss of wave) {
      if (active >= maxParallel(ctx)) break;
      if (ss.state !== "waiting") continue;
      if (active === 0 && wave.every((s) => s.state === "waiting")) {
        note(ctx, "wave.started", `Wave ${ss.wave} started`, { wave: ss.wave });
      }
      note(ctx, "scaleSet.started", `${name(ss)}: started`, { scaleSetId: ss.id, wave: ss.wave });
      whenFree(ctx, ss, { next: "writeModel" });
      active += 1;
    }
    return;
  }
}

// ---------------------------------------------------------------- changes, each behind the pause

/** Starts a change now, or parks the scale set in `held` with it while the rollout is paused. */
function whenFree(ctx: RolloutContext, ss: ScaleSetProgress, change: Continuation): void {
  if (ctx.hold) {
    enter(ss, "held");
    ss.resumeWith = change;
    note(ctx, "scaleSet.held", `${name(ss)}: paused before its next change (${change.next})`, {
      scaleSetId: ss.id,
      next: change.next,
    });
    return;
  }
  switch (change.next) {
    case "writeModel":
      writeModel(ctx, ss);
      return;
    case "upgrade":
      upgradeBatch(ctx, ss, change.batch, change.instanceIds);
      return;
    case "observe":
      enter(ss, "observing");
      emitEffect(ctx, {
        kind: "observeScaleSet",
        scaleSetId: ss.id,
        knownInstanceIds: [...ss.knownInstanceIds],
        image: ctx.targetImage,
      });
      return;
  }
}

function writeModel(ctx: RolloutContext, ss: ScaleSetProgress): void {
  if (!ss.previousImage)
    throw new RolloutInvariantError(`invariant 1: no previous image recorded for ${ss.id}`);
  enter(ss, "settingModel");
  ss.modelWriteIssued = true;
  emitEffect(ctx, {
    kind: "setModelImage",
    scaleSetId: ss.id,
    target: ctx.targetImage,
    previous: ss.previousImage,
  });
}

function upgradeBatch(ctx: RolloutContext, ss: ScaleSetProgress, index: number, instanceIds: string[]): void {
  const batch = ss.batches[index];
  if (!batch) throw new RolloutInvariantError(`${ss.id} has no batch ${index}`);
  ss.currentBatch = index;
  batch.status = "upgrading";
  enter(ss, "upgrading");
  addTouched(ss, batch.instanceIds);
  note(
    ctx,
    "batch.upgrading",
    `${name(ss)} ${batchLabel(batch, index)}: upgrading ${instanceIds.join(", ")}`,
    { scaleSetId: ss.id, batch: index, kind: batch.kind, instanceIds },
  );
  emitEffect(ctx, {
    kind: "upgradeInstances",
    scaleSetId: ss.id,
    instanceIds,
    image: ctx.targetImage,
    purpose: "rollout",
  });
}

function nextPlannedBatch(ctx: RolloutContext, ss: ScaleSetProgress): void {
  const index = ss.batches.findIndex((b) => b.status === "pending");
  const batch = ss.batches[index];
  if (batch) {
    whenFree(ctx, ss, { next: "upgrade", batch: index, instanceIds: batch.instanceIds });
    return;
  }
  stopAnalysis(ctx, ss);
  enter(ss, "completed");
  note(ctx, "scaleSet.completed", `${name(ss)}: every instance runs ${formatImage(ctx.targetImage)}`, {
    scaleSetId: ss.id,
    touchedInstanceIds: ss.touchedInstanceIds,
    protectedInstanceIds: ss.protectedInstanceIds,
  });
  startNextScaleSets(ctx);
}

// ---------------------------------------------------------------- approval

function approvalNeeded(ctx: RolloutContext, ss: ScaleSetProgress): boolean {
  const policy = ctx.spec.strategy.approval;
  if (policy === "none" || ctx.approvedWaves.includes(ss.waveIndex)) return false;
  return policy === "eachWave" || ss.waveIndex === 0;
}

function afterBake(ctx: RolloutContext, ss: ScaleSetProgress): void {
  if (!approvalNeeded(ctx, ss)) {
    whenFree(ctx, ss, { next: "observe" });
    return;
  }
  enter(ss, "awaitingApproval");
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
    if (ss.state === "awaitingApproval" && ss.waveIndex === ctx.waveIndex)
      whenFree(ctx, ss, { next: "observe" });
  }
}

export function awaitingApproval(ctx: RolloutContext): boolean {
  return ctx.scaleSets.some((s) => s.state === "awaitingApproval");
}

/** The approval timer ran out: nobody said yes, so the canary's change is reverted. */
export function approvalTimedOut(ctx: RolloutContext, effect: Effect): void {
  ctx.approvalTimerEffectId = undefined;
  const seconds = effect.kind === "startTimer" ? effect.delaySeconds : 0;
  requestRollback(ctx, "approvalTimeout", `no approval within ${seconds}s (strategy.approvalTimeoutSeconds)`);
}

// ---------------------------------------------------------------- pause and resume

/** Resume after a pause: held scale sets start the change they were about to; gate-held ones verify again. */
export function resumeScaleSets(ctx: RolloutContext): void {
  for (const ss of ctx.scaleSets) {
    if (ss.state === "held" && ss.resumeWith) {
      const change = ss.resumeWith;
      ss.resumeWith = undefined;
      whenFree(ctx, ss, change);
    } else if (ss.state === "gateHeld") {
      const upgradeInFlight = Object.values(ctx.pending).some(
        (e) => e.kind === "upgradeInstances" && e.scaleSetId === ss.id,
      );
      if (upgradeInFlight) {
        // Its outcome verifies the batch, and the analysis restarts with it.
        enter(ss, "upgrading");
        continue;
      }
      const bake = ss.verifying === "bake";
      enter(ss, bake ? "verifyingBake" : "verifyingBatch");
      const batch = currentBatch(ss);
      if (batch) batch.status = "gating";
      const since = ss.analysis.since ?? "";
      startAnalysis(ctx, ss, since);
      wantVerdict(ctx, ss, bake);
    }
  }
}

// ---------------------------------------------------------------- what the analysis concludes

/**
 * A gate failed with automatic rollback off (or stayed inconclusive with onInconclusive pause):
 * the scale set stops where it is. Its pending reads and timers are dropped; an upgrade already in
 * flight still reports (gateHeld takes its outcome).
 */
function gateHold(ctx: RolloutContext, ss: ScaleSetProgress, why: string): void {
  cancelPending(
    ctx,
    (e) =>
      "scaleSetId" in e &&
      e.scaleSetId === ss.id &&
      (e.kind === "observeScaleSet" ||
        (e.kind === "startTimer" && (e.timer === "bake" || e.timer === "pauseBetweenBatches"))),
  );
  enter(ss, "gateHeld");
  ctx.holdRequest = why;
}

/** An upgrade that was in flight when a gate hold began: recorded; resume verifies the batch. */
export function onUpgradedWhileHeld(
  ctx: RolloutContext,
  ss: ScaleSetProgress,
  event: Outcome<"instances.upgraded">,
): void {
  const batch = currentBatch(ss);
  if (!batch) return;
  for (const id of batch.instanceIds) ss.upgradedAt[id] ??= event.at;
  ss.verifying = "batch";
  note(
    ctx,
    "instances.upgraded",
    `${name(ss)} ${batchLabel(batch, ss.currentBatch)}: upgraded while held; resume verifies it`,
    {
      scaleSetId: ss.id,
      instanceIds: batch.instanceIds,
    },
  );
}

export const runbookListener: AnalysisListener = {
  verdictPassed(ctx, ss) {
    const batch = currentBatch(ss);
    if (!batch) return;
    if (ss.state === "verifyingBake") {
      note(ctx, "bake.verified", `${name(ss)}: gates passed after the bake`, { scaleSetId: ss.id });
      afterBake(ctx, ss);
      return;
    }
    if (ss.state !== "verifyingBatch") return;
    batch.status = "passed";
    if (batch.kind === "canary") {
      const bake = ctx.spec.strategy.bakeSeconds;
      if (bake > 0) {
        enter(ss, "baking");
        emitEffect(ctx, { kind: "startTimer", timer: "bake", scaleSetId: ss.id, delaySeconds: bake });
      } else afterBake(ctx, ss);
      return;
    }
    if (batch.kind === "newInstances") {
      // Look again before the next planned batch: more may have appeared meanwhile.
      whenFree(ctx, ss, { next: "observe" });
      return;
    }
    const pause = ctx.spec.strategy.pauseBetweenBatchesSeconds;
    if (pause > 0 && ss.batches.some((b) => b.status === "pending")) {
      enter(ss, "betweenBatches");
      emitEffect(ctx, {
        kind: "startTimer",
        timer: "pauseBetweenBatches",
        scaleSetId: ss.id,
        delaySeconds: pause,
      });
    } else whenFree(ctx, ss, { next: "observe" });
  },
  gatesFailed(ctx, ss, why, platform) {
    const batch = currentBatch(ss);
    if (batch) batch.status = "failed";
    if (ctx.spec.rollback.automatic) {
      requestRollback(ctx, platform ? "platformFailure" : "gateFailed", why);
      return;
    }
    gateHold(ctx, ss, `${why}; automatic rollback is off: resume re-evaluates the gates, rollback reverts`);
  },
  inconclusive(ctx, ss, why, pause) {
    if (pause) {
      gateHold(ctx, ss, `${why}; onInconclusive is pause: resume re-evaluates, rollback reverts`);
      return;
    }
    runbookListener.gatesFailed(ctx, ss, why, false);
  },
};

/** Entering a verification: the batch waits for a verdict from an evaluation issued from now on. */
function verify(ctx: RolloutContext, ss: ScaleSetProgress, what: "batch" | "bake"): void {
  ss.verifying = what;
  enter(ss, what === "bake" ? "verifyingBake" : "verifyingBatch");
  const batch = currentBatch(ss);
  if (batch && what === "batch") batch.status = "gating";
  wantVerdict(ctx, ss, what === "bake");
}

// ---------------------------------------------------------------- outcomes of rollout effects

type Outcome<T extends OutcomeEvent["type"]> = Extract<OutcomeEvent, { type: T }>;

export function onModelUpdated(ctx: RolloutContext, ss: ScaleSetProgress): void {
  note(ctx, "model.updated", `${name(ss)}: model set to ${formatImage(ctx.targetImage)}`, {
    scaleSetId: ss.id,
    previous: ss.previousImage,
    target: ctx.targetImage,
  });
  if (ss.batches.length === 0) whenFree(ctx, ss, { next: "observe" });
  else whenFree(ctx, ss, { next: "upgrade", batch: 0, instanceIds: ss.batches[0]?.instanceIds ?? [] });
}

/** Someone else's image is in the model: canaryd stops on this scale set and never overwrites it. */
export function onRolloutConflict(
  ctx: RolloutContext,
  ss: ScaleSetProgress,
  event: Outcome<"model.conflict">,
  effect: Effect,
): void {
  ss.conflict = { found: event.found };
  // A conflict on our own first write means the write never happened: nothing of ours is there.
  if (effect.kind === "setModelImage") ss.modelWriteIssued = false;
  const during =
    effect.kind === "upgradeInstances" ? "before an instance upgrade; none was issued" : "at the model write";
  note(
    ctx,
    "model.conflict",
    `${name(ss)}: model holds ${formatImage(event.found)}, set by someone else (${during})`,
    {
      scaleSetId: ss.id,
      found: event.found,
      effect: effect.kind,
    },
  );
  requestRollback(
    ctx,
    "modelConflict",
    `${name(ss)} was changed by someone else (model holds ${formatImage(event.found)}); canaryd did not overwrite it`,
  );
}

export function onUpgraded(
  ctx: RolloutContext,
  ss: ScaleSetProgress,
  event: Outcome<"instances.upgraded">,
): void {
  const batch = currentBatch(ss);
  if (!batch) return;
  for (const id of batch.instanceIds) ss.upgradedAt[id] ??= event.at;
  note(ctx, "instances.upgraded", `${name(ss)} ${batchLabel(batch, ss.currentBatch)}: upgraded`, {
    scaleSetId: ss.id,
    instanceIds: batch.instanceIds,
  });
  startAnalysis(ctx, ss, event.at);
  verify(ctx, ss, "batch");
}

export function onUpgradeFailed(
  ctx: RolloutContext,
  ss: ScaleSetProgress,
  event: Outcome<"instances.upgradeFailed">,
): void {
  note(ctx, "instances.upgradeFailed", `${name(ss)}: upgrade failed: ${event.reason}`, {
    scaleSetId: ss.id,
    platformFailure: event.platformFailure,
  });
  requestRollback(
    ctx,
    event.platformFailure ? "platformFailure" : "effectFailed",
    `${name(ss)}: upgrade failed${event.platformFailure ? " (platform failure, not the image)" : ""}: ${event.reason}`,
  );
}

export function onRolloutEffectFailed(
  ctx: RolloutContext,
  ss: ScaleSetProgress,
  event: Outcome<"effect.failed">,
  effect: Effect,
): void {
  note(ctx, "effect.failed", `${name(ss)}: ${effect.kind} could not be done: ${event.reason}`, {
    scaleSetId: ss.id,
    effect: effect.kind,
    transient: event.transient,
  });
  requestRollback(ctx, "effectFailed", `${name(ss)}: ${effect.kind} failed on the platform: ${event.reason}`);
}

export function onRolloutTimer(
  ctx: RolloutContext,
  ss: ScaleSetProgress,
  _event: unknown,
  effect: Effect,
): void {
  if (effect.kind !== "startTimer") return;
  if (effect.timer === "bake") {
    note(
      ctx,
      "bake.completed",
      `${name(ss)}: canary baked for ${effect.delaySeconds}s; asking the gates once more`,
      {
        scaleSetId: ss.id,
      },
    );
    verify(ctx, ss, "bake");
  } else if (effect.timer === "pauseBetweenBatches") {
    note(ctx, "pause.completed", `${name(ss)}: ${effect.delaySeconds}s pause between batches over`, {
      scaleSetId: ss.id,
    });
    whenFree(ctx, ss, { next: "observe" });
  }
}

/** Before the next planned batch: instances that appeared (scale-out, repair) are gated like a batch. */
export function onObserved(
  ctx: RolloutContext,
  ss: ScaleSetProgress,
  event: Outcome<"scaleSet.observed">,
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
    whenFree(ctx, ss, { next: "upgrade", batch: index, instanceIds: stale });
    return;
  }
  ss.currentBatch = index;
  addTouched(ss, ids);
  for (const id of ids) ss.upgradedAt[id] ??= event.at;
  verify(ctx, ss, "batch");
}
