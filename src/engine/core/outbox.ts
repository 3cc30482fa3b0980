/**
 * Outbox entries: effects the machine emitted and the engine has not yet fed an outcome for.
 * An entry is written in the same transaction as the snapshot that emitted it and deleted in the
 * same transaction as the snapshot that consumed its outcome, so its absence is the durable
 * "done" mark a duplicate job checks before doing anything.
 */
import type { Effect } from "../../domain/effects.ts";
import type { RolloutSpec } from "../../domain/spec.ts";

export interface OutboxEntry {
  effect: Effect;
  /** Revision of the snapshot that emitted the effect. */
  revision: number;
  emittedAt: string;
  /** For timers: when the timer fires, so a re-enqueue after a crash keeps the original deadline. */
  dueAt?: string;
  /** What the executor's last unfinished step asked to be handed back. */
  progress?: Record<string, unknown>;
  /** Executor steps taken so far (1 after the first `done: false`). */
  checks: number;
}

export function outboxEntryFor(effect: Effect, revision: number, now: Date): OutboxEntry {
  const entry: OutboxEntry = { effect, revision, emittedAt: now.toISOString(), checks: 0 };
  if (effect.kind === "startTimer") {
    entry.dueAt = new Date(now.getTime() + effect.delaySeconds * 1000).toISOString();
  }
  return entry;
}

/** BullMQ job ids must not contain ':'; an effect id is the machine's, so it is made safe here. */
export function effectJobId(rolloutId: string, effectId: string): string {
  return `${rolloutId}.${effectId}`.replaceAll(":", "_");
}

/**
 * Notifications ride on the same commit as the step (src/notifications/): `derive` turns the
 * timeline entries a commit writes into notification outbox entries (deterministic ids), written
 * by the same Lua script; `enqueue` hands them to their queue after the commit, as effects are.
 */
export interface NotificationHook {
  derive(input: {
    rolloutId: string;
    revision: number;
    rollout: { name: string; phase: string; spec: RolloutSpec; createdBy?: string };
    entries: readonly { type: string; message: string; at: string; data?: Record<string, unknown> }[];
  }): { id: string; json: string }[];
  enqueue(ids: string[]): Promise<void>;
}
