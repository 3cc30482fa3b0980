/**
 * Every Redis key and channel of the engine. All of them start with the configured prefix, a
 * hash tag such as `{canaryd}`, so on Redis Cluster they share one slot: the Lua scripts that
 * touch several keys at once, and BullMQ's own scripts (queue prefix = the same tag), stay legal.
 */
import { createHash } from "node:crypto";
import type { RolloutPhase } from "../../domain/rollout-view.ts";
import { scaleSetKey } from "../../domain/scale-set-id.ts";

export interface EngineKeys {
  prefix: string;
  /**
   * Hash: the machine snapshot in the decider's layout (the rollout machine's: header `state`, `spec` and
   * `ss:<i>` per scale set, machines/snapshot-codec.ts) plus metadata the engine keeps beside it.
   */
  rollout(id: string): string;
  /** Hash effectId -> outbox entry JSON: effects emitted and not yet answered. */
  outbox(id: string): string;
  /** List of timeline entries; entry `seq` n sits at index n-1. */
  timeline(id: string): string;
  lock(id: string): string;
  /** Hash effectId -> dead letter JSON: effects given up on, never run again. */
  deadLetters(id: string): string;
  /** Pub/sub channel carrying each new timeline entry, so SSE works across daemon processes. */
  timelineChannel(id: string): string;
  /** Sorted set of every rollout, scored by creation sequence. */
  allRollouts: string;
  /** Sorted set per phase, scored by creation sequence. */
  byPhase(phase: RolloutPhase | string): string;
  /** Set of non-terminal rollouts: what recovery scans. */
  active: string;
  /** Hash scale set key -> id of the active rollout holding it (invariant 3). */
  holders: string;
  /** Sorted set of rollouts that targeted the scale set, scored by creation sequence. */
  scaleSetHistory(scaleSetId: string): string;
  /** String: the rollout an idempotency key of one caller already started. */
  idempotency(actorId: string, key: string): string;
  creationSequence: string;
  /** The accelerated clock's shared origin, per time scale. */
  clockOrigin(timeScale: number): string;
  /** Hash approval id -> approved image version (src/approvals/approval-store.ts). */
  approvals: string;
  /** String: a compacted rollout's summary and release record, brotli JSON (src/engine/store/retention.ts). */
  compacted(id: string): string;
  /** Sorted set of compacted rollouts scored by when their record expires (epoch ms, engine clock). */
  recordExpiry: string;
  /** Hash notification id -> delivery JSON: notifications committed and not yet delivered (src/notifications/). */
  notificationOutbox: string;
}

export function engineKeys(prefix: string): EngineKeys {
  const p = prefix;
  return {
    prefix,
    rollout: (id) => `${p}:rollout:${id}`,
    outbox: (id) => `${p}:rollout:${id}:outbox`,
    timeline: (id) => `${p}:rollout:${id}:timeline`,
    lock: (id) => `${p}:rollout:${id}:lock`,
    deadLetters: (id) => `${p}:rollout:${id}:deadletters`,
    timelineChannel: (id) => `${p}:timeline:${id}`,
    allRollouts: `${p}:rollouts`,
    byPhase: (phase) => `${p}:rollouts:phase:${phase}`,
    active: `${p}:rollouts:active`,
    holders: `${p}:holders`,
    scaleSetHistory: (scaleSetId) => `${p}:scaleset:${scaleSetKey(scaleSetId)}:rollouts`,
    // Hashed: the key is caller input of any length and alphabet.
    idempotency: (actorId, key) =>
      `${p}:idempotency:${createHash("sha256").update(`${actorId}\n${key}`).digest("hex")}`,
    creationSequence: `${p}:rollouts:sequence`,
    clockOrigin: (timeScale) => `${p}:clock:origin:${timeScale}`,
    approvals: `${p}:approvals`,
    compacted: (id) => `${p}:rollout:${id}:compacted`,
    recordExpiry: `${p}:records:expiry`,
    notificationOutbox: `${p}:notifications:outbox`,
  };
}
