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
 * callers must not mutate them (the decider drafts before it changes anything).
 *
 * The snapshot's layout in the rollout's hash is the decider's (`SnapshotCodec`): for the rollout
 * machine a header and one field per scale set, of which a commit writes only those that changed
 * since the snapshot the step loaded (`CommitInput.base`). The hash's other fields (revision,
 * phase, dates, sequence, timelineSeq) are the store's.
 */

import type { DeadLetter, RolloutPhase, TimelineEntry } from "../../domain/rollout-view.ts";
import { scaleSetKey } from "../../domain/scale-set-id.ts";
import { type PersistedState, type SnapshotCodec, wholeSnapshotCodec } from "../core/decider.ts";
import type { OutboxEntry } from "../core/outbox.ts";
import type { EngineKeys } from "./keys.ts";
import type { RedisClient } from "./redis-connection.ts";
import { runNamedScript } from "./redis-script.ts";
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
  /** The snapshot at `expectedRevision` (what the step loaded): only what changed since is written. */
  base?: S;
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

/** A map of at most `capacity` entries; reading or writing an entry makes it the most recent. */
class LruMap<K, V> {
  readonly capacity: number;
  private readonly entries = new Map<K, V>();

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  get(key: K): V | undefined {
    const value = this.entries.get(key);
    if (value === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  set(key: K, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }
}

/** Parsed snapshots by rollout id, each at its revision; the least recently used goes first. */
export class SnapshotCache<S> {
  private readonly entries: LruMap<string, { revision: number; state: S }>;

  constructor(capacity: number) {
    this.entries = new LruMap(capacity);
  }

  get(id: string, revision: number): S | undefined {
    const entry = this.entries.get(id);
    return entry?.revision === revision ? entry.state : undefined;
  }

  set(id: string, revision: number, state: S): void {
    const entry = this.entries.get(id);
    // Never replace a newer revision with an older one (a slow reader racing a commit).
    if (entry && entry.revision > revision) return;
    this.entries.set(id, { revision, state });
  }
}

/** Enough for every rollout a daemon runs at once (the bench's 200) and the API's recent reads. */
const snapshotCacheCapacity = 512;

export class RolloutStore<S extends PersistedState = PersistedState> {
  readonly redis: RedisClient;
  readonly keys: EngineKeys;
  readonly snapshots = new SnapshotCache<S>(snapshotCacheCapacity);
  /** Timeline entries read so far, by rollout (see `timeline`); the least recently used goes first. */
  private readonly timelines = new LruMap<string, TimelineEntry[]>(snapshotCacheCapacity);
  readonly codec: SnapshotCodec<S>;

  constructor(redis: RedisClient, keys: EngineKeys, codec: SnapshotCodec<S> = wholeSnapshotCodec<S>()) {
    this.redis = redis;
    this.keys = keys;
    this.codec = codec;
  }

  async create(input: CreateRolloutInput<S>): Promise<CreateResult> {
    const k = this.keys;
    const claims = input.claims.map(scaleSetKey);
    const targets = [...new Set(input.targets.map(scaleSetKey))];
    const idempotencyKey = input.idempotency
      ? k.idempotency(input.idempotency.actorId, input.idempotency.key)
      : k.rollout(input.id);
    const reply = (await runNamedScript(this.redis, createScript, {
      keys: {
        rollout: k.rollout(input.id),
        outbox: k.outbox(input.id),
        timeline: k.timeline(input.id),
        holders: k.holders,
        active: k.active,
        phaseIndex: k.byPhase(input.phase),
        allIndex: k.allRollouts,
        sequence: k.creationSequence,
        idempotency: idempotencyKey,
        notificationOutbox: k.notificationOutbox,
      },
      keyList: targets.map((t) => k.scaleSetHistory(t)),
      args: {
        id: input.id,
        revision: input.state.revision,
        phase: input.phase,
        createdAt: input.createdAt,
        createdBy: input.createdBy,
        channel: k.timelineChannel(input.id),
        useIdempotency: input.idempotency ? "1" : "0",
        idempotencyTtl: input.idempotency?.ttlSeconds ?? 0,
      },
      lists: {
        snapshot: this.codec.encode(input.state).flat(),
        claims,
        outbox: outboxPairs(input.outbox),
        timeline: input.timeline.map((e) => JSON.stringify(e)),
        notifications: notificationPairs(input.notifications),
      },
    })) as string[];
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
    const reply = (await runNamedScript(this.redis, commitScript, {
      keys: {
        rollout: k.rollout(input.id),
        outbox: k.outbox(input.id),
        timeline: k.timeline(input.id),
        holders: k.holders,
        active: k.active,
        oldPhaseIndex: k.byPhase(input.previousPhase),
        newPhaseIndex: k.byPhase(input.phase),
        notificationOutbox: k.notificationOutbox,
      },
      args: {
        id: input.id,
        expectedRevision: input.expectedRevision,
        revision: input.state.revision,
        phase: input.phase,
        updatedAt: input.updatedAt,
        terminal: input.terminal ? "1" : "0",
        channel: k.timelineChannel(input.id),
      },
      lists: {
        snapshot: this.codec.encode(input.state, input.base).flat(),
        answered: [input.answeredEffectId ?? "", ...(input.moreAnsweredEffectIds ?? [])].filter(Boolean),
        claims,
        releases,
        outbox: outboxPairs(input.outbox),
        timeline: input.timeline.map((e) => JSON.stringify(e)),
        notifications: notificationPairs(input.notifications),
      },
    })) as string[];
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
    await runNamedScript(this.redis, noteScript, {
      keys: { rollout: k.rollout(id), outbox: k.outbox(id), timeline: k.timeline(id) },
      args: { channel: k.timelineChannel(id), answeredEffectId: answeredEffectId ?? "" },
      lists: { timeline: entries.map((e) => JSON.stringify(e)) },
    });
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
        const record = this.parseRecord(ids[i] ?? "", fields as Record<string, string>);
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
    const saved = await runNamedScript(this.redis, progressScript, {
      keys: { outbox: this.keys.outbox(id) },
      args: { effectId: entry.effect.id, entry: JSON.stringify(entry) },
      lists: {},
    });
    return saved === 1;
  }

  /**
   * Entries with seq > afterSeq, oldest first. Entry n sits at index n-1 and the list is only
   * appended to while the rollout exists (compaction deletes it whole), so the entries this
   * process parsed are kept (`timelines`) and a read fetches and parses only the new tail.
   */
  async timeline(id: string, afterSeq = 0): Promise<TimelineEntry[]> {
    const from = this.timelines.get(id)?.length ?? 0;
    const items = await this.redis.lrange(this.keys.timeline(id), from, -1);
    const entries = this.timelines.get(id) ?? [];
    // Evicted meanwhile (the cache was full): read the whole list again.
    if (entries.length < from) return this.timeline(id, afterSeq);
    // Another read of the same tail may have appended meanwhile: add only what it did not.
    for (const json of items.slice(entries.length - from)) entries.push(JSON.parse(json) as TimelineEntry);
    this.timelines.set(id, entries);
    return entries.slice(Math.max(0, afterSeq));
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

  private parseRecord(id: string, fields: Record<string, string> | undefined): RolloutRecord<S> | undefined {
    const state = fields ? this.codec.decode(fields) : undefined;
    return state && fields ? recordOf(id, state, fields) : undefined;
  }

  /** Ids of an index, newest first, strictly older than `beforeSequence` when given. */
  async page(indexKey: string, count: number, beforeSequence?: number): Promise<string[]> {
    const max = beforeSequence === undefined ? "+inf" : `(${beforeSequence}`;
    return this.redis.zrevrangebyscore(indexKey, max, "-inf", "LIMIT", 0, count);
  }
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

function outboxPairs(entries: OutboxEntry[]): string[] {
  return entries.flatMap((e) => [e.effect.id, JSON.stringify(e)]);
}

function notificationPairs(entries: { id: string; json: string }[] = []): string[] {
  return entries.flatMap((e) => [e.id, e.json]);
}
