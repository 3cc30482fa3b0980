/**
 * The step: the only way a rollout moves. Under the rollout's lock it loads the snapshot, asks
 * the machine to decide the event, and writes the new snapshot with its timeline entries and
 * outbox entries, deleting the answered effect's entry, in one atomic write that also checks the
 * revision it loaded. Only then are the new effects enqueued: a crash in between leaves them in
 * the outbox, where recovery finds them.
 *
 * Outcomes of one rollout that arrive while it steps wait for its lock together, and the first of
 * them to get it applies them all in one step: load once, decide each in arrival order (urgent
 * ones first, store/rollout-lock.ts), commit once (every answered outbox entry deleted in that commit).
 * The snapshot is copied, serialized and written once per step, not once per outcome, which is
 * what a step costs in a large rollout. Each outcome still gets its own revision, timeline lines
 * and result; user events (which carry a precheck) step alone.
 */
import type { Logger } from "pino";
import type { RolloutEvent } from "../../domain/effects.ts";
import { formatImage } from "../../domain/image-reference.ts";
import { scaleSetKey } from "../../domain/scale-set-id.ts";
import type { EffectQueue } from "../queue/effect-queue.ts";
import {
  CanarydError,
  rolloutNotFound,
  scaleSetBusy,
  unsupportedSnapshot,
} from "../service/rollout-service.ts";
import type { EngineKeys } from "../store/keys.ts";
import type { RolloutLock } from "../store/rollout-lock.ts";
import type { PendingTimelineEntry, RolloutRecord, RolloutStore } from "../store/rollout-store.ts";
import type { Clock } from "./clock.ts";
import type { DecidedTimelineEntry, Decider, Decision, PersistedState } from "./decider.ts";
import { type NotificationHook, type OutboxEntry, outboxEntryFor } from "./outbox.ts";
import { timelineEntries } from "./timeline.ts";

export interface StepperDeps<S extends PersistedState> {
  store: RolloutStore<S>;
  lock: RolloutLock;
  keys: EngineKeys;
  decider: Decider<S>;
  queue: EffectQueue;
  clock: Clock;
  logger: Logger;
  /** Notifications derived from the committed timeline entries, in the same commit (src/notifications/). */
  notifications?: NotificationHook;
}

export type StepResult<S extends PersistedState> =
  | { kind: "applied"; record: RolloutRecord<S>; decision: Decision<S> }
  | { kind: "ignored"; record: RolloutRecord<S>; reason: string };

export interface StepOptions<S extends PersistedState> {
  /** Runs under the lock on the loaded record, before deciding; throws to refuse the event. */
  precheck?: (record: RolloutRecord<S>) => void;
  /** Goes before the rollout's waiting steps that are not urgent (store/rollout-lock.ts). */
  urgent?: boolean;
}

/** Optimistic-concurrency retries: only an expired lock can make a commit conflict. */
const maxConflicts = 5;

export const stepConflict = (id: string) =>
  new CanarydError("ROLLOUT_CONFLICT", 503, `rollout ${id} kept changing under this step; retry`, { id });

interface WaitingOutcome<S extends PersistedState> {
  event: RolloutEvent;
  resolve(result: StepResult<S>): void;
  reject(error: unknown): void;
}

export class Stepper<S extends PersistedState> {
  readonly deps: StepperDeps<S>;
  /** Per rollout, outcomes waiting for its lock in this process: the next step takes them all. */
  readonly #waiting = new Map<string, WaitingOutcome<S>[]>();

  constructor(deps: StepperDeps<S>) {
    this.deps = deps;
  }

  async apply(id: string, event: RolloutEvent, options: StepOptions<S> = {}): Promise<StepResult<S>> {
    if (options.precheck === undefined && "effectId" in event) return this.applyOutcome(id, event, options);
    for (let attempt = 0; attempt < maxConflicts; attempt++) {
      const results = await this.deps.lock.withLock(
        this.deps.keys.lock(id),
        () => this.once(id, [event], options),
        { urgent: options.urgent === true },
      );
      if (results?.[0]) return results[0];
    }
    throw stepConflict(id);
  }

  /** Queues the outcome and takes the rollout's lock; whichever step gets it first applies the queue. */
  private async applyOutcome(
    id: string,
    event: RolloutEvent,
    options: StepOptions<S>,
  ): Promise<StepResult<S>> {
    let waiting: WaitingOutcome<S> | undefined;
    const result = new Promise<StepResult<S>>((resolve, reject) => {
      waiting = { event, resolve, reject };
    });
    // The drain may settle it while this call still releases the lock: handled here so a
    // rejection is never reported as unhandled; the caller still gets it from `return result`.
    result.catch(() => undefined);
    const entry = waiting as unknown as WaitingOutcome<S>;
    const queue = this.#waiting.get(id) ?? [];
    if (options.urgent) queue.unshift(entry);
    else queue.push(entry);
    this.#waiting.set(id, queue);
    try {
      await this.deps.lock.withLock(this.deps.keys.lock(id), () => this.drain(id), {
        urgent: options.urgent === true,
      });
    } catch (error) {
      // The lock was not had (busy past its wait, Redis away): this outcome is not applied.
      const still = this.#waiting.get(id);
      const at = still?.indexOf(entry) ?? -1;
      if (still && at >= 0) {
        still.splice(at, 1);
        throw error;
      }
    }
    return result;
  }

  /** Under the lock: applies every outcome waiting for this rollout in one step. */
  private async drain(id: string): Promise<void> {
    const batch = this.#waiting.get(id);
    this.#waiting.delete(id);
    if (!batch || batch.length === 0) return;
    try {
      for (let attempt = 0; attempt < maxConflicts; attempt++) {
        // A conflict (only an expired lock causes one) is retried on a fresh load; the commit is
        // revision-checked either way.
        const results = await this.once(
          id,
          batch.map((w) => w.event),
          {},
        );
        if (results) {
          batch.forEach((w, i) => {
            const result = results[i];
            if (result) w.resolve(result);
          });
          return;
        }
      }
      throw stepConflict(id);
    } catch (error) {
      for (const w of batch) w.reject(error);
    }
  }

  /**
   * One try: decides the events in order on one loaded snapshot and commits once; undefined when
   * the commit found a newer revision. One result per event.
   */
  private async once(
    id: string,
    events: RolloutEvent[],
    options: StepOptions<S>,
  ): Promise<StepResult<S>[] | undefined> {
    const { store, decider, clock, logger } = this.deps;
    const record = await store.load(id);
    if (!record) throw rolloutNotFound(id);
    if (record.state.schemaVersion !== decider.schemaVersion) {
      throw unsupportedSnapshot(id, record.state.schemaVersion, decider.schemaVersion);
    }
    options.precheck?.(record);
    const now = clock.now();
    const effectIds = events.map((e) => ("effectId" in e ? e.effectId : undefined));
    const inOutbox = await Promise.all(
      effectIds.map((e) => (e === undefined ? true : store.outboxEntry(id, e).then(Boolean))),
    );

    let state = record.state;
    const timeline: PendingTimelineEntry[] = [];
    /** Outbox entries this step deletes: the effects it answered, applied or ignored as stale. */
    const answered: string[] = [];
    const outcomes: ({ decision: Decision<S> } | { ignored: string })[] = [];
    const emitted: OutboxEntry[][] = [];
    events.forEach((event, i) => {
      const effectId = effectIds[i];
      if (effectId !== undefined && (!inOutbox[i] || answered.includes(effectId))) {
        const reason = `effect ${effectId} is no longer pending`;
        timeline.push(ignoredEntry(event, reason, now));
        outcomes.push({ ignored: reason });
        logger.info({ rolloutId: id, event: event.type, effectId, reason }, "duplicate outcome ignored");
        return;
      }
      const decision = decider.decide(state, event);
      if (effectId !== undefined) answered.push(effectId);
      if (decision.ignored !== undefined) {
        timeline.push(ignoredEntry(event, decision.ignored, now));
        outcomes.push({ ignored: decision.ignored });
        logger.info(
          { rolloutId: id, event: event.type, effectId, reason: decision.ignored },
          "stale event ignored",
        );
        return;
      }
      timeline.push(...engineEntries(event, now), ...timelineEntries(decision.timeline, now));
      emitted.push(decision.effects.map((e) => outboxEntryFor(e, decision.state.revision, now)));
      outcomes.push({ decision });
      state = decision.state;
    });

    if (state === record.state) {
      // Nothing changed: the lines and the answered entries' deletion, without a new snapshot.
      await store.note(id, timeline, answered[0]);
      for (const effectId of answered.slice(1)) await store.note(id, [], effectId);
      return outcomes.map((o) => ({
        kind: "ignored" as const,
        record,
        reason: "ignored" in o ? o.ignored : "",
      }));
    }

    const terminal = decider.isTerminal(state);
    const described = decider.describe(state);
    const phase = described.phase;
    const heldBefore = decider.heldScaleSetIds(record.state);
    const heldAfter = decider.heldScaleSetIds(state);
    const keep = new Set(heldAfter.map(scaleSetKey));
    const stillPending = new Set(decider.pendingEffectIds(state));
    // The last decision's effects as it emitted them; an earlier one's only while still pending
    // (a later outcome of the same step may have cancelled it).
    const last = emitted.length - 1;
    const outbox = emitted.flatMap((entries, i) =>
      i === last ? entries : entries.filter((e) => stillPending.has(e.effect.id)),
    );
    // One notification entry per (timeline entry that triggers, matching subscription), committed
    // with the step; ids from the step's final revision and the entry's index (unique per commit).
    const notifications =
      this.deps.notifications?.derive({
        rolloutId: id,
        revision: state.revision,
        rollout: { name: described.name, phase, spec: described.spec, createdBy: record.createdBy },
        entries: timeline,
      }) ?? [];
    const committed = await store.commit({
      id,
      expectedRevision: record.revision,
      base: record.state,
      previousPhase: record.phase,
      state,
      phase,
      terminal,
      updatedAt: now.toISOString(),
      claims: heldAfter,
      releases: heldBefore.filter((s) => !keep.has(scaleSetKey(s))),
      answeredEffectId: answered[0],
      moreAnsweredEffectIds: answered.slice(1),
      outbox,
      timeline,
      notifications,
    });
    if (committed.kind === "conflict") return undefined;
    if (committed.kind === "missing") throw rolloutNotFound(id);
    if (committed.kind === "busy") throw scaleSetBusy(committed.scaleSetId, committed.holderId);

    await this.deps.queue.enqueue(id, outbox);
    if (notifications.length > 0) await this.deps.notifications?.enqueue(notifications.map((n) => n.id));
    const answeredSet = new Set(answered);
    const cancelled = decider
      .pendingEffectIds(record.state)
      .filter((e) => !answeredSet.has(e) && !stillPending.has(e));
    if (cancelled.length > 0) {
      // Not needed for correctness (the worker drops a cancelled effect it finds), only for a tidy queue.
      await Promise.all(cancelled.map((e) => store.dropOutboxEntry(id, e)));
      await this.deps.queue.cancel(id, cancelled);
    }
    const next: RolloutRecord<S> = {
      ...record,
      state,
      revision: state.revision,
      phase,
      updatedAt: now.toISOString(),
    };
    return outcomes.map((o, i) => {
      if ("ignored" in o) return { kind: "ignored" as const, record: next, reason: o.ignored };
      logger.info(
        {
          rolloutId: id,
          event: events[i]?.type,
          effectId: effectIds[i],
          revision: o.decision.state.revision,
          phase,
          effects: o.decision.effects.map((e) => `${e.kind}:${e.id}`),
          ...(events.length > 1 ? { batch: events.length } : {}),
        },
        "rollout step",
      );
      return { kind: "applied" as const, record: next, decision: o.decision };
    });
  }
}

/**
 * Facts an outcome carries that the machine does not keep but the release record needs: the image
 * as preflight read it, and a policy exception used. Written in the same commit as the machine's
 * lines, before them, so the record never reads Azure again.
 */
function engineEntries(event: RolloutEvent, now: Date): PendingTimelineEntry[] {
  if (event.type !== "preflight.passed" && event.type !== "preflight.refused") return [];
  const entries: DecidedTimelineEntry[] = [];
  if (event.image)
    entries.push({
      type: "preflight.image",
      actor: "system",
      message: `Image read at preflight: ${formatImage(event.image.reference)}`,
      data: { ...event.image },
    });
  if (event.type === "preflight.passed" && event.exception)
    entries.push({
      type: "policy.exception",
      actor: "system",
      message: `Policy exception used (ticket ${event.exception.ticket}): ${event.exception.reason}; overrides: ${event.exception.overrides.map((f) => f.message).join("; ")}`,
      data: { ...event.exception },
    });
  return timelineEntries(entries, now);
}

function ignoredEntry(event: RolloutEvent, reason: string, now: Date): PendingTimelineEntry {
  const actor = "actor" in event ? event.actor.id : "system";
  const data: Record<string, unknown> = { event: event.type };
  if ("effectId" in event) data.effectId = event.effectId;
  return {
    at: now.toISOString(),
    actor,
    type: "event.ignored",
    message: `${event.type} ignored: ${reason}`,
    data,
  };
}
