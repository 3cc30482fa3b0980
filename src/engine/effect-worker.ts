/**
 * Runs one effect job: skips it when its outbox entry is gone (answered already: a duplicate),
 * runs one executor step, and either feeds the outcome through the step or, when the executor
 * asks to check again later, saves its progress and moves the same job to the delayed set, so a
 * long Azure operation never holds a worker. Timers need no executor: their job was delayed
 * until the deadline, so running it means the timer fired.
 */
import { DelayedError, type Job } from "bullmq";
import type { Logger } from "pino";
import type { Effect, OutcomeEvent } from "../domain/effects.ts";
import { errorMessage } from "../logging/redact.ts";
import type { Clock } from "./clock.ts";
import type { Decider, PersistedState } from "./decider.ts";
import type { EffectJobData } from "./effect-queue.ts";
import type { EffectStep, ExecuteEffect, OutcomeBody } from "./effects/effect-executor.ts";
import type { RolloutStore } from "./rollout-store.ts";
import type { Stepper } from "./step.ts";

export interface EffectJobDeps<S extends PersistedState> {
  store: RolloutStore<S>;
  stepper: Stepper<S>;
  decider: Decider<S>;
  executeEffect: ExecuteEffect;
  clock: Clock;
  logger: Logger;
  /** Divides the executor's re-check delays, like timer delays. */
  timeScale: number;
}

/** What a job did; a job that must check again later ends by throwing BullMQ's DelayedError instead. */
export type EffectJobResult = "answered" | "skipped";

export async function processEffectJob<S extends PersistedState>(
  deps: EffectJobDeps<S>,
  job: Job<EffectJobData>,
  token: string | undefined,
  signal: AbortSignal | undefined,
): Promise<EffectJobResult> {
  const { rolloutId, effectId } = job.data;
  const { store, logger } = deps;
  const entry = await store.outboxEntry(rolloutId, effectId);
  const record = entry && (await store.load(rolloutId));
  if (!entry || !record) {
    logger.debug({ rolloutId, effectId }, "effect already answered; duplicate job skipped");
    return "skipped";
  }
  if (!deps.decider.isPending(record.state, effectId)) {
    // Cancelled when the rollout changed course (a rollback began): running it now could only
    // act on a plan that no longer holds, and its outcome would be ignored.
    await store.dropOutboxEntry(rolloutId, effectId);
    logger.info({ rolloutId, effectId, kind: entry.effect.kind }, "cancelled effect dropped without running");
    return "skipped";
  }

  const outcome = await runEffect(deps, job, entry.effect, record.state, entry.progress, signal);
  if (outcome.done) {
    await deps.stepper.apply(rolloutId, {
      ...outcome.outcome,
      effectId,
      at: deps.clock.now().toISOString(),
    } as OutcomeEvent);
    return "answered";
  }

  const saved = await store.saveProgress(rolloutId, {
    ...entry,
    progress: outcome.progress,
    checks: entry.checks + 1,
  });
  if (!saved) return "skipped";
  logger.debug(
    { rolloutId, effectId, kind: entry.effect.kind, checkAgainInSeconds: outcome.checkAgainInSeconds },
    "effect still running",
  );
  await job.moveToDelayed(Date.now() + (outcome.checkAgainInSeconds * 1000) / deps.timeScale, token);
  // Tells BullMQ the job was moved on purpose: not a failure, not an attempt used.
  throw new DelayedError();
}

async function runEffect<S extends PersistedState>(
  deps: EffectJobDeps<S>,
  job: Job<EffectJobData>,
  effect: Effect,
  state: S,
  progress: Record<string, unknown> | undefined,
  signal: AbortSignal | undefined,
): Promise<EffectStep> {
  if (effect.kind === "startTimer") {
    const fired: OutcomeBody = { type: "timer.fired", timer: effect.timer };
    if (effect.scaleSetId !== undefined) fired.scaleSetId = effect.scaleSetId;
    return { done: true, outcome: fired };
  }
  const view = deps.decider.describe(state);
  try {
    return await deps.executeEffect(effect, {
      rolloutId: job.data.rolloutId,
      spec: view.spec,
      targetImage: view.targetImage,
      now: () => deps.clock.now(),
      progress,
      signal,
    });
  } catch (error) {
    const reason = errorMessage(error);
    const attempts = job.opts.attempts ?? 1;
    deps.logger.warn(
      {
        rolloutId: job.data.rolloutId,
        effectId: effect.id,
        kind: effect.kind,
        attempt: job.attemptsMade + 1,
        reason,
      },
      "effect attempt failed",
    );
    // Out of attempts: the machine decides what a failed effect means (usually a rollback).
    if (job.attemptsMade + 1 >= attempts && !signal?.aborted) {
      return { done: true, outcome: { type: "effect.failed", reason } };
    }
    throw error;
  }
}
