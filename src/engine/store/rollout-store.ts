/**
 * The rollout store: snapshots, outbox, timeline and indexes in Redis. Every write that must be
 * atomic is one Lua script (store-scripts.ts); reads are plain commands.
 *
 * Parsed snapshots are cached in the process by rollout id and revision (`SnapshotCache`): a
 * load reads the record's small fields and, when the cached revision is the stored one, reuses
 * the parsed snapshot instead of fetching and parsing it again (it grows with the fleet). This
 * is exact, not a guess: a revision is written once (the commit script checks the revision it
 * replaces), so the snapshot at a revision never changes; another process's commit raises the
 * revision, and the next load misses and reads Redis. Snapshots the store returns are shared:
 * callers must not mutate them (the decider copies before it changes anything).
 */

import type { DeadLetter, RolloutPhase, TimelineEntry } from "../../domain/rollout-view.ts";
import { scaleSetKey } from "../../domain/scale-set-id.ts";
import type { PersistedState } from "../core/decider.ts";
import type { OutboxEntry } from "../core/outbox.ts";
import type { EngineKeys } from "./keys.ts";
import type { RedisClient } from "./redis-connection.ts";
import { runScript } from "./redis-script.ts";
import { commitScript, createScript, noteScript, progressScript } from "./store-scripts.ts";

/** A timeline entry before the store numbers it. */
export type PendingTimelineEntry = Omit<TimelineEntry, "seq">;

export interface RolloutRecord<S extends PersistedState = PersistedState> {
  id: string;
  state: S;
  revision: number;
  phase: RolloutPhase;
  createdAt: string;
  updatedAt: string;
  createdBy: string;
  /** Creation order, unique per store: the index score and the list cursor. */
  sequence: number;
}

export interface CreateRolloutInput<S extends PersistedState> {
  id: string;
  state: S;
  phase: RolloutPhase;
  createdAt: string;
  createdBy: string;
  /** Scale sets to claim (invariant 3). */
  claims: string[];
  /** Every scale set the spec targets: the history rollbackScaleSet and the superseded check read. */
  targets: string[];
  outbox: OutboxEntry[];
  timeline: PendingTimelineEntry[];
  /** Notification outbox entries written in the same script (src/notifications/). */
  notifications?: { id: string; json: string }[];
  idempotency?: { actorId: string; key: string; ttlSeconds: number };
}

export type CreateResult =
  | { kind: "created"; sequence: number }
  | { kind: "exists"; id: string }
  | { kind: "busy"; scaleSetId: string; holderId: string };

export interface CommitInput<S extends PersistedState> {
  id: string;
  expectedRevision: number;
  previousPhase: RolloutPhase;
  state: S;
  phase: RolloutPhase;
  terminal: boolean;
  updatedAt: string;
  claims: string[];
  releases: string[];
  /** The effect whose outcome this step consumed: its outbox entry goes in the same write. */
  answeredEffectId?: string;
  /** Further effects the same step answered (several outcomes in one step); ids have no ','. */
  moreAnsweredEffectIds?: string[];
  outbox: OutboxEntry[];
  timeline: PendingTimelineEntry[];
  /** Notification outbox entries written in the same script (src/notifications/). */
  notifications?: { id: string; json: string }[];
}

export type CommitResult =
  | { kind: "ok" }
  | { kind: "missing" }
  | { kind: "conflict"; currentRevision: number }
  | { kind: "busy"; scaleSetId: string; holderId: string };

/** The record's fields other than the snapshot, in the order `load` asks for them. */
const headerFields = ["revision", "phase", "createdAt", "updatedAt", "createdBy", "sequence"] as const;

/** Parsed snapshots by rollout id, each at its revision; the least recently used goes first. */
export class SnapshotCache<S> {
  readonly capacity: number;
  private readonly entries = new Map<string, { revision: number; state: S }>();

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  get(id: string, revision: number): S | undefined {
    const entry = this.entries.get(id);
    if (entry?.revision !== revision) return undefined;
    this.entries.delete(id);
    this.entries.set(id, entry);
    return entry.state;
  }

  set(id: string, revision: number, state: S): void {
    const entry = this.entries.get(id);
    // Never replace a newer revision with an older one (a slow reader racing a commit).
    if (entry && entry.revision > revision) return;
    this.entries.delete(id);
    this.entries.set(id, { revision, state });
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }
}

/** Enough for every rollout a daemon runs at once (the bench's 200) and the API's recent reads. */
const snapshotCacheCapacity = 512;

export class RolloutStore<S extends PersistedState = PersistedState> {
  readonly redis: RedisClient;
  readonly keys: EngineKeys;
  readonly snapshots = new SnapshotCache<S>(snapshotCacheCapacity);

  constructor(redis: RedisClient, keys: EngineKeys) {
    this.redis = redis;
    this.keys = keys;
  }

  async create(input: CreateRolloutInput<S>): Promise<CreateResult> {
    const k = this.keys;
    const claims = input.claims.map(scaleSetKey);
    const targets = [...new Set(input.targets.map(scaleSetKey))];
    const idempotencyKey = input.idempotency
      ? k.idempotency(input.idempotency.actorId, input.idempotency.key)
      : k.rollout(input.id);
    const keys = [
      k.rollout(input.id),
      k.outbox(input.id),
      k.timeline(input.id),
      k.holders,
      k.active,
      k.byPhase(input.phase),
      k.allRollouts,
      k.creationSequence,
      idempotencyKey,
      k.notificationOutbox,
      ...targets.map((t) => k.scaleSetHistory(t)),
    ];
    const args = [
      input.id,
      JSON.stringify(input.state),
      input.state.revision,
      input.phase,
      input.createdAt,
      input.createdBy,
      k.timelineChannel(input.id),
      input.idempotency ? "1" : "0",
      input.idempotency?.ttlSeconds ?? 0,
      claims.length,
      input.outbox.length,
      input.timeline.length,
      ...claims,
      ...input.outbox.flatMap((e) => [e.effect.id, JSON.stringify(e)]),
      ...input.timeline.map((e) => JSON.stringify(e)),
      ...notificationArgs(input.notifications),
    ];
    const reply = (await runScript(this.redis, createScript, keys, args)) as string[];
    if (reply[0] === "exists") return { kind: "exists", id: String(reply[1]) };
    if (reply[0] === "busy")
      return { kind: "busy", scaleSetId: String(reply[1]), holderId: String(reply[2]) };
    this.snapshots.set(input.id, input.state.revision, input.state);
    return { kind: "created", sequence: Number(reply[1]) };
  }

  async commit(input: CommitInput<S>): Promise<CommitResult> {
    const k = this.keys;
    const claims = input.claims.map(scaleSetKey);
    const releases = input.releases.map(scaleSetKey);
    const keys = [
      k.rollout(input.id),
      k.outbox(input.id),
      k.timeline(input.id),
      k.holders,
      k.active,
      k.byPhase(input.previousPhase),
      k.byPhase(input.phase),
      k.notificationOutbox,
    ];
    const args = [
      input.id,
      input.expectedRevision,
      JSON.stringify(input.state),
      input.state.revision,
      input.phase,
      input.updatedAt,
      input.terminal ? "1" : "0",
      k.timelineChannel(input.id),
      [input.answeredEffectId ?? "", ...(input.moreAnsweredEffectIds ?? [])].filter(Boolean).join(","),
      claims.length,
      releases.length,
      input.outbox.length,
      input.timeline.length,
      ...claims,
      ...releases,
      ...input.outbox.flatMap((e) => [e.effect.id, JSON.stringify(e)]),
      ...input.timeline.map((e) => JSON.stringify(e)),
      ...notificationArgs(input.notifications),
    ];
    const reply = (await runScript(this.redis, commitScript, keys, args)) as string[];
    if (reply[0] === "missing") return { kind: "missing" };
    if (reply[0] === "conflict") return { kind: "conflict", currentRevision: Number(reply[1]) };
    if (reply[0] === "busy")
      return { kind: "busy", scaleSetId: String(reply[1]), holderId: String(reply[2]) };
    this.snapshots.set(input.id, input.state.revision, input.state);
    return { kind: "ok" };
  }

  /** Appends timeline entries without a new snapshot; drops the answered effect's outbox entry. */
  async note(id: string, entries: PendingTimelineEntry[], answeredEffectId?: string): Promise<void> {
    const k = this.keys;
    await runScript(
      this.redis,
      noteScript,
      [k.rollout(id), k.outbox(id), k.timeline(id)],
      [k.timelineChannel(id), answeredEffectId ?? "", ...entries.map((e) => JSON.stringify(e))],
    );
  }

  /** The record; its snapshot from the cache when the cached revision is the stored one. */
  async load(id: string): Promise<RolloutRecord<S> | undefined> {
    return (await this.loadMany([id]))[0];
  }

  /** Records of the ids that exist, in the order given; two round trips when a snapshot is not cached. */
  async loadMany(ids: string[]): Promise<RolloutRecord<S>[]> {
    if (ids.length === 0) return [];
    const headers = this.redis.pipeline();
    for (const id of ids) headers.hmget(this.keys.rollout(id), ...headerFields);
    const replies = (await headers.exec()) ?? [];
    const records: (RolloutRecord<S> | undefined)[] = [];
    const misses: number[] = [];
    ids.forEach((id, i) => {
      const [error, values] = replies[i] ?? [];
      if (error) throw error;
      const fields = Object.fromEntries(
        headerFields.map((f, j) => [f, (values as (string | null)[])[j] ?? undefined]),
      ) as Record<string, string | undefined>;
      if (fields.revision === undefined) return;
      const state = this.snapshots.get(id, Number(fields.revision));
      if (state) records[i] = recordOf(id, state, fields);
      else misses.push(i);
    });
    if (misses.length > 0) {
      const full = this.redis.pipeline();
      for (const i of misses) full.hgetall(this.keys.rollout(ids[i] ?? ""));
      const fullReplies = (await full.exec()) ?? [];
      misses.forEach((i, j) => {
        const [error, fields] = fullReplies[j] ?? [];
        if (error) throw error;
        const record = parseRecord<S>(ids[i] ?? "", fields as Record<string, string>);
        if (!record) return;
        this.snapshots.set(record.id, record.revision, record.state);
        records[i] = record;
      });
    }
    return records.filter((r): r is RolloutRecord<S> => r !== undefined);
  }

  async outboxEntry(id: string, effectId: string): Promise<OutboxEntry | undefined> {
    const json = await this.redis.hget(this.keys.outbox(id), effectId);
    return json ? (JSON.parse(json) as OutboxEntry) : undefined;
  }

  async outboxEntries(id: string): Promise<OutboxEntry[]> {
    const all = await this.redis.hgetall(this.keys.outbox(id));
    return Object.values(all).map((json) => JSON.parse(json) as OutboxEntry);
  }

  /** Drops an entry the machine no longer waits for: its effect must not run. */
  async dropOutboxEntry(id: string, effectId: string): Promise<void> {
    await this.redis.hdel(this.keys.outbox(id), effectId);
  }

  /** Records an effect the engine gave up on; the first record of an effect wins. */
  async addDeadLetter(letter: DeadLetter): Promise<void> {
    await this.redis.hsetnx(this.keys.deadLetters(letter.rolloutId), letter.effectId, JSON.stringify(letter));
  }

  async deadLetter(id: string, effectId: string): Promise<DeadLetter | undefined> {
    const json = await this.redis.hget(this.keys.deadLetters(id), effectId);
    return json ? (JSON.parse(json) as DeadLetter) : undefined;
  }

  /** The rollout's dead letters, oldest first. */
  async deadLetters(id: string): Promise<DeadLetter[]> {
    const all = await this.redis.hgetall(this.keys.deadLetters(id));
    return Object.values(all)
      .map((json) => JSON.parse(json) as DeadLetter)
      .sort((a, b) => a.at.localeCompare(b.at) || a.effectId.localeCompare(b.effectId));
  }

  /** Saves progress of a pending effect; false when the effect was answered meanwhile. */
  async saveProgress(id: string, entry: OutboxEntry): Promise<boolean> {
    const saved = await runScript(
      this.redis,
      progressScript,
      [this.keys.outbox(id)],
      [entry.effect.id, JSON.stringify(entry)],
    );
    return saved === 1;
  }

  /** Entries with seq > afterSeq, oldest first. Entry n sits at index n-1 (the list is never trimmed). */
  async timeline(id: string, afterSeq = 0): Promise<TimelineEntry[]> {
    const items = await this.redis.lrange(this.keys.timeline(id), Math.max(0, afterSeq), -1);
    return items.map((json) => JSON.parse(json) as TimelineEntry);
  }

  async activeIds(): Promise<string[]> {
    return this.redis.smembers(this.keys.active);
  }

  async holderOf(scaleSetId: string): Promise<string | undefined> {
    return (await this.redis.hget(this.keys.holders, scaleSetKey(scaleSetId))) ?? undefined;
  }

  /** Rollouts that targeted the scale set, newest first. */
  async historyOf(scaleSetId: string): Promise<string[]> {
    return this.redis.zrevrange(this.keys.scaleSetHistory(scaleSetId), 0, -1);
  }

  /** Ids of an index, newest first, strictly older than `beforeSequence` when given. */
  async page(indexKey: string, count: number, beforeSequence?: number): Promise<string[]> {
    const max = beforeSequence === undefined ? "+inf" : `(${beforeSequence}`;
    return this.redis.zrevrangebyscore(indexKey, max, "-inf", "LIMIT", 0, count);
  }
}

function parseRecord<S extends PersistedState>(
  id: string,
  fields: Record<string, string> | undefined,
): RolloutRecord<S> | undefined {
  if (!fields?.state) return undefined;
  return recordOf(id, JSON.parse(fields.state) as S, fields);
}

function recordOf<S extends PersistedState>(
  id: string,
  state: S,
  fields: Record<string, string | undefined>,
): RolloutRecord<S> {
  return {
    id,
    state,
    revision: Number(fields.revision),
    phase: fields.phase as RolloutPhase,
    createdAt: fields.createdAt ?? "",
    updatedAt: fields.updatedAt ?? "",
    createdBy: fields.createdBy ?? "",
    sequence: Number(fields.sequence),
  };
}

function notificationArgs(entries: { id: string; json: string }[] = []): (string | number)[] {
  return [entries.length, ...entries.flatMap((e) => [e.id, e.json])];
}
