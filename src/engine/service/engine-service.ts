/**
 * The RolloutService the API and CLI call: starts rollouts (claiming their scale sets
 * atomically), reads and lists them, applies user actions through the same step as outcomes,
 * and streams the timeline. It knows the machine only through the Decider seam.
 */
import type { Logger } from "pino";
import { type Actor, type UserEvent, userActions } from "../../domain/effects.ts";
import type { ReleaseRecord } from "../../domain/release-record.ts";
import {
  type DeadLetter,
  type RolloutActions,
  type RolloutView,
  type TimelineEntry,
  terminalPhases,
} from "../../domain/rollout-view.ts";
import { sameScaleSet } from "../../domain/scale-set-id.ts";
import type { RolloutSpec } from "../../domain/spec.ts";
import type { ExecuteEffect } from "../../effects/effect-executor.ts";
import type { Clock } from "../core/clock.ts";
import type { Decider, PersistedState } from "../core/decider.ts";
import { outboxEntryFor } from "../core/outbox.ts";
import { newRolloutId } from "../core/rollout-id.ts";
import type { Stepper } from "../core/step.ts";
import { timelineEntries } from "../core/timeline.ts";
import type { EffectQueue } from "../queue/effect-queue.ts";
import type { EngineKeys } from "../store/keys.ts";
import { decodeCursor, encodeCursor } from "../store/list-cursor.ts";
import type { CompactedRollout, Retention } from "../store/retention.ts";
import type { RolloutRecord, RolloutStore } from "../store/rollout-store.ts";
import type { TimelineFeed } from "../store/timeline-feed.ts";
import { dryRun } from "./dry-run.ts";
import {
  actionNotAllowed,
  CanarydError,
  type ListRolloutsQuery,
  nothingToRollBack,
  type RolloutAction,
  type RolloutPlan,
  type RolloutService,
  rolloutCompacted,
  rolloutNotFound,
  scaleSetBusy,
  superseded,
} from "./rollout-service.ts";
import { viewOf } from "./view-of.ts";

/** /readyz must answer quickly even while Redis does not. */
const readyTimeoutMs = 1_000;

export interface EngineServiceDeps<S extends PersistedState> {
  store: RolloutStore<S>;
  stepper: Stepper<S>;
  decider: Decider<S>;
  queue: EffectQueue;
  feed: TimelineFeed;
  keys: EngineKeys;
  executeEffect: ExecuteEffect;
  clock: Clock;
  logger: Logger;
  /** Resolves once the engine's clock agrees with the other processes' (see store/clock-origin.ts). */
  prepare: () => Promise<void>;
  idempotencyTtlSeconds: number;
  /** How often waitForTerminal re-reads even without a timeline message (a missed publish). */
  waitRecheckMs: number;
  /** Whether the workers run, for ready(). */
  workersRunning: () => boolean;
  /** Compacted rollouts: read where the snapshot is gone (src/engine/store/retention.ts). */
  retention: Retention<S>;
}

/** A listed rollout, whole or compacted. */
interface Listed {
  sequence: number;
  phase: RolloutView["phase"];
  view: () => RolloutView;
}

export class EngineService<S extends PersistedState> implements RolloutService {
  readonly deps: EngineServiceDeps<S>;

  constructor(deps: EngineServiceDeps<S>) {
    this.deps = deps;
  }

  async start(spec: RolloutSpec, options: { actor: Actor; idempotencyKey?: string }): Promise<RolloutView> {
    const { store, decider, clock } = this.deps;
    await this.deps.prepare();
    const now = clock.now();
    const id = newRolloutId(now);
    const decision = decider.startRollout({ rolloutId: id, spec, createdBy: options.actor.id });
    const outbox = decision.effects.map((e) => outboxEntryFor(e, decision.state.revision, now));
    const described = decider.describe(decision.state);
    const timeline = timelineEntries(decision.timeline, now);
    const notifications =
      this.deps.stepper.deps.notifications?.derive({
        rolloutId: id,
        revision: decision.state.revision,
        rollout: { name: described.name, phase: described.phase, spec, createdBy: options.actor.id },
        entries: timeline,
      }) ?? [];
    const result = await store.create({
      id,
      state: decision.state,
      phase: described.phase,
      createdAt: now.toISOString(),
      createdBy: options.actor.id,
      claims: decider.heldScaleSetIds(decision.state),
      targets: spec.waves.flatMap((w) => w.scaleSets),
      outbox,
      timeline,
      notifications,
      idempotency:
        options.idempotencyKey === undefined
          ? undefined
          : {
              actorId: options.actor.id,
              key: options.idempotencyKey,
              ttlSeconds: this.deps.idempotencyTtlSeconds,
            },
    });
    if (result.kind === "busy") throw scaleSetBusy(result.scaleSetId, result.holderId);
    if (result.kind === "exists") return this.mustGet(result.id);
    await this.deps.queue.enqueue(id, outbox);
    if (notifications.length > 0)
      await this.deps.stepper.deps.notifications?.enqueue(notifications.map((n) => n.id));
    this.deps.logger.info(
      {
        rolloutId: id,
        name: spec.name,
        actor: options.actor.id,
        revision: decision.state.revision,
        effects: outbox.length,
      },
      "rollout created",
    );
    return this.mustGet(id);
  }

  async plan(spec: RolloutSpec): Promise<RolloutPlan> {
    await this.deps.prepare();
    return dryRun(spec, this.deps.executeEffect, this.deps.clock);
  }

  async get(id: string): Promise<RolloutView | undefined> {
    const record = await this.deps.store.load(id);
    if (record) return { ...this.view(record), actions: await this.actions(record) };
    return (await this.deps.retention.load(id))?.view;
  }

  async compactedRecord(id: string): Promise<ReleaseRecord | undefined> {
    return (await this.deps.retention.load(id))?.record;
  }

  /**
   * What act() would accept now, asked of the machine (canApply) and, for the rollback of a
   * completed rollout, of the same supersession check act() makes: one set of rules, not a copy.
   */
  private async actions(record: RolloutRecord<S>): Promise<RolloutActions> {
    const entries = await Promise.all(
      userActions.map(async (action) => {
        const check = this.deps.decider.canApply(record.state, action);
        if (!check.ok) return [action, { allowed: false, reason: check.reason }] as const;
        if (action === "rollback") {
          try {
            await this.refuseIfSuperseded(record);
          } catch (error) {
            return [action, { allowed: false, reason: (error as Error).message }] as const;
          }
        }
        return [action, { allowed: true }] as const;
      }),
    );
    return Object.fromEntries(entries) as RolloutActions;
  }

  async list(query: ListRolloutsQuery): Promise<{ items: RolloutView[]; nextCursor?: string }> {
    const { store, keys } = this.deps;
    const index =
      query.scaleSetId !== undefined
        ? keys.scaleSetHistory(query.scaleSetId)
        : query.phase !== undefined
          ? keys.byPhase(query.phase)
          : keys.allRollouts;
    // Only a scale set index holds every phase: there the phase is filtered while paging.
    const filterPhase = query.scaleSetId !== undefined ? query.phase : undefined;
    const limit = Math.max(1, query.limit);
    const matches: Listed[] = [];
    let before = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    while (matches.length <= limit) {
      const ids = await store.page(index, limit + 1, before);
      const records = await this.loadListed(ids);
      for (const r of records) if (filterPhase === undefined || r.phase === filterPhase) matches.push(r);
      const last = records.at(-1);
      if (ids.length < limit + 1 || !last) break;
      before = last.sequence;
    }
    const items = matches.slice(0, limit);
    const lastItem = items.at(-1);
    const page: { items: RolloutView[]; nextCursor?: string } = { items: items.map((r) => r.view()) };
    if (matches.length > limit && lastItem) page.nextCursor = encodeCursor(lastItem.sequence);
    return page;
  }

  async act(id: string, action: RolloutAction, actor: Actor, reason?: string): Promise<RolloutView> {
    const { decider, stepper, clock } = this.deps;
    await this.deps.prepare();
    if (action === "rollback") await this.refuseIfSuperseded(await this.deps.store.load(id));
    const event: UserEvent = { type: action, actor, at: clock.now().toISOString() };
    if (reason !== undefined) event.reason = reason;
    const result = await stepper
      .apply(id, event, {
        // A person's abort or rollback goes before the rollout's queued outcomes.
        urgent: action === "abort" || action === "rollback",
        precheck: (record) => {
          const check = decider.canApply(record.state, action);
          if (!check.ok) throw actionNotAllowed(id, action, record.phase, check.reason);
        },
      })
      .catch(async (error: unknown) => {
        if (error instanceof CanarydError && error.code === "ROLLOUT_NOT_FOUND")
          await this.refuseIfCompacted(id, `cannot ${action} it`);
        throw error;
      });
    if (result.kind === "ignored") throw actionNotAllowed(id, action, result.record.phase, result.reason);
    return this.view(result.record);
  }

  async rollbackScaleSet(scaleSetId: string, actor: Actor, reason?: string): Promise<RolloutView> {
    const { store } = this.deps;
    const holder = await store.holderOf(scaleSetId);
    if (holder !== undefined) return this.act(holder, "rollback", actor, reason);
    const ids = await store.historyOf(scaleSetId);
    const history = await store.loadMany(ids);
    const compacted = await this.deps.retention.loadMany(
      ids.filter((id) => !history.some((r) => r.id === id)),
    );
    // The newest one that changed the scale set: a newer failed rollout is not skipped for an
    // older completed one (that would put back a version older than what the failed one left).
    const newest = history.find((r) => this.leftChanged(r, scaleSetId));
    // A newer compacted completed rollout cannot be rolled back, and must not be skipped either.
    const newerCompacted = compacted.find(
      (c) => c.phase === "completed" && (newest === undefined || c.sequence > newest.sequence),
    );
    if (newerCompacted) throw this.compactedRollback(newerCompacted, scaleSetId);
    if (!newest) throw nothingToRollBack(scaleSetId);
    return this.act(newest.id, "rollback", actor, reason);
  }

  async timeline(id: string, afterSeq?: number): Promise<TimelineEntry[]> {
    if (!(await this.deps.store.load(id))) {
      await this.refuseIfCompacted(id, "its timeline was deleted");
      throw rolloutNotFound(id);
    }
    return this.deps.store.timeline(id, afterSeq);
  }

  async deadLetters(id: string): Promise<DeadLetter[]> {
    if (!(await this.deps.store.load(id))) {
      await this.refuseIfCompacted(id, "its dead letters were deleted");
      throw rolloutNotFound(id);
    }
    return this.deps.store.deadLetters(id);
  }

  subscribe(id: string, onEntry: (entry: TimelineEntry) => void): Promise<() => Promise<void>> {
    return this.deps.feed.listen(this.deps.keys.timelineChannel(id), onEntry);
  }

  async waitForTerminal(id: string, timeoutMs: number, signal?: AbortSignal): Promise<RolloutView> {
    const deadline = Date.now() + timeoutMs;
    let wake: (() => void) | undefined;
    // Subscribe before the first read: an entry published in between still wakes the loop.
    const unsubscribe = await this.subscribe(id, () => wake?.());
    try {
      for (;;) {
        const record = await this.deps.store.load(id);
        if (!record) {
          // Compacted: finished long ago.
          const compacted = await this.deps.retention.load(id);
          if (compacted) return compacted.view;
          throw rolloutNotFound(id);
        }
        const left = deadline - Date.now();
        if (this.isTerminal(record) || left <= 0 || signal?.aborted) return this.view(record);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, Math.min(left, this.deps.waitRecheckMs));
          function done() {
            clearTimeout(timer);
            signal?.removeEventListener("abort", done);
            resolve();
          }
          wake = done;
          signal?.addEventListener("abort", done, { once: true });
        });
      }
    } finally {
      await unsubscribe();
    }
  }

  async ready(): Promise<{ ready: boolean; checks: Record<string, boolean> }> {
    const pong = this.deps.store.redis.ping().then(
      (reply) => reply === "PONG",
      () => false,
    );
    const timeout = new Promise<boolean>((resolve) => setTimeout(resolve, readyTimeoutMs, false).unref());
    const redis = await Promise.race([pong, timeout]);
    const workers = this.deps.workersRunning();
    return { ready: redis && workers, checks: { redis, workers } };
  }

  /**
   * Rolling back a completed rollout would put back the previous versions on every scale set it
   * touched: refused when a newer rollout left any of them changed since (it would be undone).
   */
  private async refuseIfSuperseded(record: RolloutRecord<S> | undefined): Promise<void> {
    const { store } = this.deps;
    if (record?.phase !== "completed") return;
    const id = record.id;
    const spec = this.deps.decider.describe(record.state).spec;
    for (const scaleSetId of spec.waves.flatMap((w) => w.scaleSets)) {
      const ids = await store.historyOf(scaleSetId);
      const newer = (await this.loadListedRecords(ids)).filter(
        (r) => r.sequence > record.sequence && r.leftChanged(scaleSetId),
      );
      const newest = newer[0];
      if (newest) throw superseded(scaleSetId, id, newest.id);
    }
  }

  /**
   * Whether the rollout ended with the scale set changed and not put back: it completed, or it
   * failed after its model write began there. What a one-call rollback targets.
   */
  private leftChanged(record: RolloutRecord<S>, scaleSetId: string): boolean {
    if (record.phase === "completed") return true;
    if (record.phase !== "failed") return false;
    const view = this.deps.decider
      .describe(record.state)
      .scaleSets.find((s) => sameScaleSet(s.id, scaleSetId));
    return view !== undefined && (view.phase !== "waiting" || view.touchedInstanceIds.length > 0);
  }

  private isTerminal(record: RolloutRecord<S>): boolean {
    return terminalPhases.has(record.phase) || this.deps.decider.isTerminal(record.state);
  }

  private view(record: RolloutRecord<S>): RolloutView {
    return viewOf(this.deps.decider, record);
  }

  /** Whole and compacted rollouts of the ids, in the ids' order (newest first). */
  private async loadListed(ids: string[]): Promise<Listed[]> {
    const records = await this.loadListedRecords(ids);
    return records.map(({ sequence, phase, view }) => ({ sequence, phase, view }));
  }

  private async loadListedRecords(
    ids: string[],
  ): Promise<(Listed & { id: string; leftChanged: (scaleSetId: string) => boolean })[]> {
    const records = await this.deps.store.loadMany(ids);
    const whole = new Set(records.map((r) => r.id));
    const compacted = await this.deps.retention.loadMany(ids.filter((id) => !whole.has(id)));
    return [
      ...records.map((r) => ({
        id: r.id,
        sequence: r.sequence,
        phase: r.phase,
        view: () => this.view(r),
        leftChanged: (scaleSetId: string) => this.leftChanged(r, scaleSetId),
      })),
      ...compacted.map((c) => ({
        id: c.id,
        sequence: c.sequence,
        phase: c.phase,
        view: () => c.view,
        // Compacted phases are final: only a completed one left its scale sets changed.
        leftChanged: () => c.phase === "completed",
      })),
    ].sort((a, b) => b.sequence - a.sequence);
  }

  /** Throws ROLLOUT_COMPACTED (410) when the rollout was compacted. */
  private async refuseIfCompacted(id: string, what: string): Promise<void> {
    const compacted = await this.deps.retention.load(id);
    if (compacted) throw rolloutCompacted(id, compacted.compactedAt, what);
  }

  /** A compacted completed rollout cannot be rolled back: name what to deploy instead. */
  private compactedRollback(compacted: CompactedRollout, scaleSetId: string): CanarydError {
    const previous = compacted.record.scaleSets.find((s) => sameScaleSet(s.id, scaleSetId))?.previousImage;
    const instead = previous
      ? `start a rollout of its recorded previous image ${JSON.stringify(previous)} instead`
      : "start a rollout of the image to go back to instead";
    return rolloutCompacted(
      compacted.id,
      compacted.compactedAt,
      `it cannot be rolled back on ${scaleSetId}; ${instead}`,
    );
  }

  private async mustGet(id: string): Promise<RolloutView> {
    const view = await this.get(id);
    if (!view) throw rolloutNotFound(id);
    return view;
  }
}
