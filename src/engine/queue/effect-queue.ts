/**
 * The effects queue: one BullMQ job per pending effect, with a deterministic id
 * (`${rolloutId}.${effectId}`) so enqueueing the same outbox entry twice (a step and a recovery
 * pass racing) makes one job. Finished jobs are removed: the outbox entry, not the job, is the
 * durable record, so a job id must be free again for recovery to re-add it. A failed attempt
 * waits as the retry policy says (the worker's backoffStrategy, see core/retry-policy.ts).
 *
 * Rollback first: every job has a BullMQ priority, and a rollback's effects (`isRollbackEffect`)
 * come before everything else, so when hundreds of rollouts keep the workers busy a revert still
 * starts at the next free worker. (BullMQ runs jobs without a priority before all prioritized
 * ones, so the others get a priority too, a lower one.) The step that answers an alarming outcome
 * also goes first in its rollout's lock queue (`isUrgentOutcome`, store/rollout-lock.ts).
 *
 * Shards: the queue may be N BullMQ queues (`engine.queueShards`); a rollout's jobs, added or
 * removed, always go to its own shard (queue/queue-shards.ts, `shardOf`).
 */
import type { Queue } from "bullmq";
import type { Effect, OutcomeEvent } from "../../domain/effects.ts";
import type { Clock } from "../core/clock.ts";
import { effectJobId, type OutboxEntry } from "../core/outbox.ts";
import { shardOf } from "./queue-shards.ts";

/** BullMQ job priorities: lower runs first. */
export const effectPriority = { rollback: 1, normal: 10 } as const;

/** Effects that put a scale set back: they run before any other job. */
export function isRollbackEffect(effect: Effect): boolean {
  switch (effect.kind) {
    case "revertModel":
    case "inspectScaleSet":
      return true;
    case "upgradeInstances":
    case "evaluateGates":
      return effect.purpose === "rollback";
    default:
      return false;
  }
}

/**
 * Outcomes whose step goes first among the queued steps of its rollout: one that may begin a
 * rollback (a failed verdict, a failed upgrade or effect, someone else's model write), and any
 * answer to a rollback's effect.
 */
export function isUrgentOutcome(
  effect: Effect,
  outcome: Pick<OutcomeEvent, "type"> & { verdict?: string },
): boolean {
  if (isRollbackEffect(effect)) return true;
  switch (outcome.type) {
    case "gates.evaluated":
      return outcome.verdict === "failed";
    case "instances.upgradeFailed":
    case "model.conflict":
    case "effect.failed":
      return true;
    default:
      return false;
  }
}

export const effectQueueName = "effects";

/** The job backoff type that sends BullMQ to the worker's backoffStrategy (the retry policy). */
export const retryPolicyBackoff = "retryPolicy";

export interface EffectJobData {
  rolloutId: string;
  effectId: string;
}

export interface EffectQueueOptions {
  /** Attempts at most before the effect is given up (a permanent error gives up at the first). */
  attempts: number;
  /** How many engine-clock milliseconds pass per real millisecond (1 unless the clock is accelerated). */
  timeScale: number;
}

export class EffectQueue {
  // Untyped data: BullMQ's generic Queue types do not narrow to one job shape cleanly.
  /** One BullMQ queue per shard, in shard order (queue/queue-shards.ts, `shardPrefixes`). */
  readonly shards: readonly Queue[];
  readonly clock: Clock;
  readonly options: EffectQueueOptions;

  /** `shards`: one queue (a single shard) or every shard's queue, in shard order. */
  constructor(shards: Queue | readonly Queue[], clock: Clock, options: EffectQueueOptions) {
    this.shards = Array.isArray(shards) ? shards : [shards as Queue];
    if (this.shards.length === 0) throw new RangeError("an effect queue needs at least one shard");
    this.clock = clock;
    this.options = options;
  }

  /** The BullMQ queue that holds every job of the rollout. */
  queueOf(rolloutId: string): Queue {
    return this.shards[shardOf(rolloutId, this.shards.length)] as Queue;
  }

  async enqueue(rolloutId: string, entries: OutboxEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const now = this.clock.now().getTime();
    await this.queueOf(rolloutId).addBulk(
      entries.map((entry) => ({
        name: entry.effect.kind,
        data: { rolloutId, effectId: entry.effect.id } satisfies EffectJobData,
        opts: {
          jobId: effectJobId(rolloutId, entry.effect.id),
          priority: isRollbackEffect(entry.effect) ? effectPriority.rollback : effectPriority.normal,
          delay: entry.dueAt ? Math.max(0, (Date.parse(entry.dueAt) - now) / this.options.timeScale) : 0,
          attempts: this.options.attempts,
          backoff: { type: retryPolicyBackoff },
          removeOnComplete: true,
          removeOnFail: true,
        },
      })),
    );
  }

  /**
   * Removes the jobs of effects the machine cancelled (a verdict asked for drops the analysis
   * timer; a rollback drops reads and timers). Best effort: a job already running, or one left by
   * a crash here, is dropped by the worker when it finds the effect no longer pending.
   */
  async cancel(rolloutId: string, effectIds: string[]): Promise<void> {
    const queue = this.queueOf(rolloutId);
    await Promise.all(
      effectIds.map((effectId) => queue.remove(effectJobId(rolloutId, effectId)).catch(() => 0)),
    );
  }
}
