/**
 * Retention: what stays of a finished rollout, and for how long.
 *
 * Compaction. A rollout in a compactable phase (completed, rolledBack, rejected: every terminal
 * phase but `failed`, see domain/rollout-view.ts `compactablePhases`) whose last change is at least
 * `retention.compactAfterSeconds` old (engine clock) is compacted: its release record (built as
 * GET /v1/rollouts/{id}/record builds it) and a summary view (the view without gate evidence) are
 * written, brotli-compressed, to one key (`…:rollout:<id>:compacted`), and its working state goes:
 * snapshot hash, timeline list, outbox and dead letters. The indexes (all, per phase, per scale set)
 * keep the id, so the list still shows it. `failed` is never compacted: it keeps claims and can be
 * rolled back or released.
 *
 * Expiry. A compacted rollout's key is deleted `retention.recordDays` after it ended (the record's
 * `endedAt`), together with its index entries: the sorted set `…:records:expiry` holds the due times.
 *
 * Crash behaviour and concurrency. Each compaction is one Lua script that checks, in Redis, that the
 * snapshot's revision and timeline length are those the record was built from, that the phase is
 * compactable, that the rollout is not active, holds no scale set and that no step holds its lock;
 * then writes the compacted key and deletes the working state. A crash before it changes nothing;
 * after it, the work is done. Re-running finds the snapshot gone ("missing"). Two daemons sweeping
 * at once: the second script finds the snapshot gone, or (a step committed in between) a changed
 * revision, and does nothing. Expiry is one script too, and re-checks the due time.
 *
 * Invariant: a rollout is either whole (snapshot + timeline) or compacted (summary + record), never
 * neither while its record is within recordDays, and never both.
 */
import { brotliCompressSync, brotliDecompressSync } from "node:zlib";
import type { Logger } from "pino";
import { buildReleaseRecord, type ReleaseRecord } from "../../domain/release-record.ts";
import { compactablePhases, type RolloutPhase, type RolloutView } from "../../domain/rollout-view.ts";
import { errorMessage } from "../../logging/redact.ts";
import type { Clock } from "../core/clock.ts";
import type { Decider, PersistedState } from "../core/decider.ts";
import { viewOf } from "../service/view-of.ts";
import type { EngineKeys } from "./keys.ts";
import { luaScript, runScript } from "./redis-script.ts";
import type { RolloutStore } from "./rollout-store.ts";

export interface RetentionSettings {
  compactAfterSeconds: number;
  recordDays: number;
}

export const defaultRetention: RetentionSettings = { compactAfterSeconds: 86_400, recordDays: 400 };

export const compactedSchema = "canaryd.compacted-rollout/v1";

/** What stays of a compacted rollout. */
export interface CompactedRollout {
  schema: typeof compactedSchema;
  id: string;
  /** Creation sequence: the index score and the list cursor. */
  sequence: number;
  phase: RolloutPhase;
  compactedAt: string;
  /** When the record is deleted (endedAt + recordDays). */
  expiresAt: string;
  /** Every scale set the spec targeted: the history index entries removed at expiry. */
  targets: string[];
  /** The view without gate evidence, marked `compacted`. */
  view: RolloutView;
  /** The release record as it was just before compaction. */
  record: ReleaseRecord;
}

export type CompactOutcome = "compacted" | "missing" | "notFinished" | "notDue" | "changed" | "locked";

/** A compaction read and built, not yet written: what `commit` checks against and writes. */
export interface PreparedCompaction {
  id: string;
  revision: number;
  timelineSeq: string;
  expiresAtMs: number;
  compacted: CompactedRollout;
}

/**
 * KEYS: rollout, outbox, timeline, dead letters, compacted, record expiry, active, lock, holders.
 * ARGV: id, expectedRevision, expectedTimelineSeq, payload, expiresAtMs, compactable phases...
 */
const compactScript = luaScript(`
local fields = redis.call('HMGET', KEYS[1], 'revision', 'timelineSeq', 'phase')
if not fields[1] then return 'missing' end
if fields[1] ~= ARGV[2] or tostring(fields[2]) ~= ARGV[3] then return 'changed' end
local compactable = false
for i = 6, #ARGV do if fields[3] == ARGV[i] then compactable = true end end
if not compactable then return 'notFinished' end
if redis.call('SISMEMBER', KEYS[7], ARGV[1]) == 1 then return 'notFinished' end
if redis.call('EXISTS', KEYS[8]) == 1 then return 'locked' end
for _, holder in ipairs(redis.call('HVALS', KEYS[9])) do
  if holder == ARGV[1] then return 'notFinished' end
end
redis.call('SET', KEYS[5], ARGV[4])
redis.call('ZADD', KEYS[6], ARGV[5], ARGV[1])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
return 'compacted'
`);

/**
 * KEYS: compacted, record expiry, all index, phase index, history keys...
 * ARGV: id, nowMs. Deletes only when the due time in the expiry set has passed.
 */
const expireScript = luaScript(`
local due = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not due or tonumber(due) > tonumber(ARGV[2]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
for i = 3, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
return 1
`);

export interface RetentionDeps<S extends PersistedState> {
  store: RolloutStore<S>;
  decider: Decider<S>;
  keys: EngineKeys;
  clock: Clock;
  logger: Logger;
  settings: RetentionSettings;
}

/** The view kept after compaction: gate evidence goes (the record keeps each verdict's summary). */
function summaryOf(view: RolloutView, compactedAt: string): RolloutView {
  return {
    ...view,
    scaleSets: view.scaleSets.map((ss) => ({
      ...ss,
      batches: ss.batches.map((b) => ({ ...b, gateResults: [] })),
    })),
    compacted: true,
    compactedAt,
  };
}

export function encodeCompacted(compacted: CompactedRollout): Buffer {
  return brotliCompressSync(Buffer.from(JSON.stringify(compacted), "utf8"));
}

export function decodeCompacted(payload: Buffer): CompactedRollout {
  return JSON.parse(brotliDecompressSync(payload).toString("utf8")) as CompactedRollout;
}

export class Retention<S extends PersistedState = PersistedState> {
  readonly deps: RetentionDeps<S>;

  constructor(deps: RetentionDeps<S>) {
    this.deps = deps;
  }

  /** What stays of a compacted rollout; undefined when it is not compacted (or its record expired). */
  async load(id: string): Promise<CompactedRollout | undefined> {
    const payload = await this.deps.store.redis.getBuffer(this.deps.keys.compacted(id));
    return payload ? decodeCompacted(payload) : undefined;
  }

  async loadMany(ids: string[]): Promise<CompactedRollout[]> {
    if (ids.length === 0) return [];
    const pipeline = this.deps.store.redis.pipeline();
    for (const id of ids) pipeline.getBuffer(this.deps.keys.compacted(id));
    const replies = (await pipeline.exec()) ?? [];
    const found: CompactedRollout[] = [];
    for (const [error, payload] of replies) {
      if (error) throw error;
      if (payload) found.push(decodeCompacted(payload as Buffer));
    }
    return found;
  }

  /** Compacts one rollout if it is finished and was last changed compactAfterSeconds before `now`. */
  async compact(id: string, now: Date = this.deps.clock.now()): Promise<CompactOutcome> {
    const prepared = await this.prepare(id, now);
    return typeof prepared === "string" ? prepared : this.commit(prepared);
  }

  /** Reads the rollout and builds what stays of it; writes nothing. */
  async prepare(
    id: string,
    now: Date,
  ): Promise<PreparedCompaction | Exclude<CompactOutcome, "compacted" | "locked">> {
    const { store, decider, keys, settings } = this.deps;
    const [stored, timelineSeq] = await Promise.all([
      store.load(id),
      store.redis.hget(keys.rollout(id), "timelineSeq"),
    ]);
    if (!stored) return "missing";
    if (!compactablePhases.includes(stored.phase)) return "notFinished";
    if (Date.parse(stored.updatedAt) + settings.compactAfterSeconds * 1000 > now.getTime()) return "notDue";
    const timeline = await store.timeline(id);
    // A note appended between the two reads: the next sweep builds the record again.
    if (String(timeline.length) !== (timelineSeq ?? "0")) return "changed";
    const view = viewOf(decider, stored);
    const record = buildReleaseRecord(view, timeline);
    const compactedAt = now.toISOString();
    const ended = Date.parse(record.endedAt ?? stored.updatedAt);
    const expiresAtMs = ended + settings.recordDays * 86_400_000;
    const compacted: CompactedRollout = {
      schema: compactedSchema,
      id,
      sequence: stored.sequence,
      phase: stored.phase,
      compactedAt,
      expiresAt: new Date(expiresAtMs).toISOString(),
      targets: [...new Set(view.spec.waves.flatMap((w) => w.scaleSets))],
      view: summaryOf(view, compactedAt),
      record,
    };
    return { id, revision: stored.revision, timelineSeq: timelineSeq ?? "0", expiresAtMs, compacted };
  }

  /** The atomic step: checks nothing changed since `prepare`, writes the summary, deletes the working state. */
  async commit(prepared: PreparedCompaction): Promise<CompactOutcome> {
    const { store, keys } = this.deps;
    const { id, compacted } = prepared;
    const outcome = (await runScript(
      store.redis,
      compactScript,
      [
        keys.rollout(id),
        keys.outbox(id),
        keys.timeline(id),
        keys.deadLetters(id),
        keys.compacted(id),
        keys.recordExpiry,
        keys.active,
        keys.lock(id),
        keys.holders,
      ],
      [
        id,
        prepared.revision,
        prepared.timelineSeq,
        encodeCompacted(compacted),
        prepared.expiresAtMs,
        ...compactablePhases,
      ],
    )) as CompactOutcome;
    if (outcome === "compacted")
      this.deps.logger.info(
        { rolloutId: id, phase: compacted.phase, compactedAt: compacted.compactedAt },
        "rollout compacted",
      );
    return outcome;
  }

  /** Deletes the compacted rollouts whose records are due to expire at `now`. */
  async expire(now: Date = this.deps.clock.now()): Promise<number> {
    const { store, keys } = this.deps;
    let count = 0;
    for (;;) {
      const due = await store.redis.zrangebyscore(keys.recordExpiry, "-inf", now.getTime(), "LIMIT", 0, 100);
      if (due.length === 0) return count;
      let removedNow = 0;
      for (const id of due) {
        // An unreadable value still expires; its scale set history entries then stay (harmless).
        const compacted = await this.load(id).catch(() => undefined);
        const indexKeys = compacted
          ? [
              keys.allRollouts,
              keys.byPhase(compacted.phase),
              ...compacted.targets.map((t) => keys.scaleSetHistory(t)),
            ]
          : [keys.allRollouts];
        const removed = await runScript(
          store.redis,
          expireScript,
          [keys.compacted(id), keys.recordExpiry, ...indexKeys],
          [id, now.getTime()],
        );
        if (removed === 1) {
          count++;
          removedNow++;
          this.deps.logger.info({ rolloutId: id }, "release record expired (retention.recordDays)");
        }
      }
      if (due.length < 100 || removedNow === 0) return count;
    }
  }

  /**
   * One pass: compacts every due finished rollout, then deletes expired records. It reads the phase
   * index of each compactable phase (one HMGET per id kept there, compacted ones answer nothing).
   */
  async sweep(now: Date = this.deps.clock.now()): Promise<{ compacted: number; expired: number }> {
    const { store, keys, settings } = this.deps;
    const dueBefore = now.getTime() - settings.compactAfterSeconds * 1000;
    let compacted = 0;
    for (const phase of compactablePhases) {
      const ids = await store.redis.zrange(keys.byPhase(phase), "0", "-1");
      for (let i = 0; i < ids.length; i += 500) {
        const chunk = ids.slice(i, i + 500);
        const pipeline = store.redis.pipeline();
        for (const id of chunk) pipeline.hget(keys.rollout(id), "updatedAt");
        const replies = (await pipeline.exec()) ?? [];
        for (const [j, id] of chunk.entries()) {
          const updatedAt = replies[j]?.[1];
          if (typeof updatedAt !== "string" || Date.parse(updatedAt) > dueBefore) continue;
          // One that fails (Redis away, a bug in one record) must not stop the pass.
          const outcome = await this.compact(id, now).catch((error: unknown) => {
            this.deps.logger.warn({ rolloutId: id, reason: errorMessage(error) }, "compaction failed");
            return "failed" as const;
          });
          if (outcome === "compacted") compacted++;
        }
      }
    }
    const expired = await this.expire(now);
    if (compacted + expired > 0) this.deps.logger.info({ compacted, expired }, "retention pass");
    return { compacted, expired };
  }
}
