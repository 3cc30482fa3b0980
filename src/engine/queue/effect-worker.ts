/**
 * Runs one effect job: skips it when its outbox entry is gone (answered already: a duplicate),
 * runs one executor step, and either feeds the outcome through the step or, when the executor
 * asks to check again later, saves its progress and moves the same job to the delayed set, so a
 * long Azure operation never holds a worker. Timers need no executor: their job was delayed
 * until the deadline, so running it means the timer fired.
 *
 * A failed attempt is judged by the retry policy (core/retry-policy.ts). A transient error is thrown
 * back to BullMQ, which retries after the policy's backoff (the worker's backoffStrategy). A
 * permanent error, or the last attempt's transient one, gives the effect up: it is written to the
 * rollout's dead-letter hash first, then answered with `effect.failed` (`transient` says which of
 * the two). An effect with a dead letter never runs again: a later job for it (a retry because the
 * step failed, a recovery pass, a crash between the two writes) answers from the dead letter.
 */
import { DelayedError, type Job } from "bullmq";
import type { Logger } from "pino";
import type { Effect, OutcomeEvent } from "../../domain/effects.ts";
import type { DeadLetter } from "../../domain/rollout-view.ts";
import type { EffectStep, ExecuteEffect, OutcomeBody } from "../../effects/effect-executor.ts";
import { errorMessage } from "../../logging/redact.ts";
import type { Clock } from "../core/clock.ts";
import type { Decider, PersistedState } from "../core/decider.ts";
import { classifyError, type ErrorClass, givesUp } from "../core/retry-policy.ts";
import type { Stepper } from "../core/step.ts";
import type { RolloutStore } from "../store/rollout-store.ts";
import { type EffectJobData, isUrgentOutcome } from "./effect-queue.ts";

/** What the engine counts about failed attempts (the daemon's Prometheus metrics implement it). */
export interface EffectFailureMetrics {
  /** A failed attempt that will be retried. */
  effectRetried(kind: string, errorClass: ErrorClass): void;
  /** An effect given up on and dead-lettered. */
  effectDeadLettered(kind: string, errorClass: ErrorClass): void;
}

export interface EffectJobDeps<S extends PersistedState> {
  store: RolloutStore<S>;
  stepper: Stepper<S>;
  decider: Decider<S>;
  executeEffect: ExecuteEffect;
  clock: Clock;
  logger: Logger;
  /** Divides the executor's re-check delays, like timer delays. */
  timeScale: number;
  metrics?: EffectFailureMetrics;
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
  const dead = await store.deadLetter(rolloutId, effectId);
  if (dead) {
    await answerDeadLetter(deps, dead);
    return "answered";
  }

  const outcome = await runEffect(deps, job, entry.effect, record.state, entry.progress, signal);
  if (outcome.done) {
    await deps.stepper.apply(
      rolloutId,
      { ...outcome.outcome, effectId, at: deps.clock.now().toISOString() } as OutcomeEvent,
      { urgent: isUrgentOutcome(entry.effect, outcome.outcome) },
    );
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
    // The worker is closing: the attempt was cut short, not failed; another process retries it.
    if (signal?.aborted) throw error;
    const reason = errorMessage(error);
    const verdict = classifyError(error);
    const attempt = job.attemptsMade + 1;
    const attempts = job.opts.attempts ?? 1;
    const log = {
      rolloutId: job.data.rolloutId,
      effectId: effect.id,
      kind: effect.kind,
      attempt,
      attempts,
      errorClass: verdict.class,
      code: verdict.code,
      reason,
    };
    if (!givesUp(verdict, attempt, attempts)) {
      deps.logger.warn(log, "effect attempt failed; retrying");
      deps.metrics?.effectRetried(effect.kind, verdict.class);
      throw error;
    }
    deps.logger.warn(log, "effect given up; dead-lettered");
    const letter: DeadLetter = {
      rolloutId: job.data.rolloutId,
      effectId: effect.id,
      kind: effect.kind,
      reason,
      code: verdict.code,
      attempts: attempt,
      transient: verdict.class === "transient",
      at: deps.clock.now().toISOString(),
    };
    if ("scaleSetId" in effect && effect.scaleSetId !== undefined) letter.scaleSetId = effect.scaleSetId;
    // Written before the outcome: from here on no job runs this effect again.
    await deps.store.addDeadLetter(letter);
    deps.metrics?.effectDeadLettered(effect.kind, verdict.class);
    // The machine decides what a failed effect means (usually a rollback).
    return { done: true, outcome: failedOutcome(letter) };
  }
}

function failedOutcome(letter: DeadLetter): OutcomeBody {
  return { type: "effect.failed", reason: letter.reason, transient: letter.transient };
}

/**
 * Answers a dead-lettered effect with its `effect.failed` outcome, without running it: for a job
 * or a recovery pass that finds the effect still in the outbox (the first answer's step failed).
 */
export async function answerDeadLetter<S extends PersistedState>(
  deps: Pick<EffectJobDeps<S>, "stepper" | "clock" | "logger">,
  letter: DeadLetter,
): Promise<void> {
  deps.logger.info(
    { rolloutId: letter.rolloutId, effectId: letter.effectId, kind: letter.kind },
    "dead-lettered effect answered without running",
  );
  // Urgent: a failed effect usually begins a rollback (effect-queue.ts, isUrgentOutcome).
  await deps.stepper.apply(
    letter.rolloutId,
    {
      ...failedOutcome(letter),
      effectId: letter.effectId,
      at: deps.clock.now().toISOString(),
    } as OutcomeEvent,
    { urgent: true },
  );
}
