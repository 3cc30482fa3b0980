/**
 * The step: the only way a rollout moves. Under the rollout's lock it loads the snapshot, asks
 * the machine to decide the event, and writes the new snapshot with its timeline entries and
 * outbox entries, deleting the answered effect's entry, in one atomic write that also checks the
 * revision it loaded. Only then are the new effects enqueued: a crash in between leaves them in
 * the outbox, where recovery finds them.
 */
import type { Logger } from "pino";
import type { RolloutEvent } from "../domain/effects.ts";
import { formatImage } from "../domain/image-reference.ts";
import { scaleSetKey } from "../domain/scale-set-id.ts";
import type { Clock } from "./clock.ts";
import type { DecidedTimelineEntry, Decider, Decision, PersistedState } from "./decider.ts";
import type { EffectQueue } from "./effect-queue.ts";
import type { EngineKeys } from "./keys.ts";
import { outboxEntryFor } from "./outbox.ts";
import type { RolloutLock } from "./rollout-lock.ts";
import { CanarydError, rolloutNotFound, scaleSetBusy } from "./rollout-service.ts";
import type { PendingTimelineEntry, RolloutRecord, RolloutStore } from "./rollout-store.ts";
import { timelineEntries } from "./timeline.ts";

export interface StepperDeps<S extends PersistedState> {
  store: RolloutStore<S>;
  lock: RolloutLock;
  keys: EngineKeys;
  decider: Decider<S>;
  queue: EffectQueue;
  clock: Clock;
  logger: Logger;
}

export type StepResult<S extends PersistedState> =
  | { kind: "applied"; record: RolloutRecord<S>; decision: Decision<S> }
  | { kind: "ignored"; record: RolloutRecord<S>; reason: string };

export interface StepOptions<S extends PersistedState> {
  /** Runs under the lock on the loaded record, before deciding; throws to refuse the event. */
  precheck?: (record: RolloutRecord<S>) => void;
  /** Goes before the rollout's waiting steps that are not urgent (rollout-lock.ts). */
  urgent?: boolean;
}

/** Optimistic-concurrency retries: only an expired lock can make a commit conflict. */
const maxConflicts = 5;

export const stepConflict = (id: string) =>
  new CanarydError("ROLLOUT_CONFLICT", 503, `rollout ${id} kept changing under this step; retry`, { id });

export const unsupportedSnapshot = (id: string, found: number, supported: number) =>
  new CanarydError(
    "UNSUPPORTED_SNAPSHOT",
    500,
    `rollout ${id} was stored with snapshot schema ${found}; this canaryd reads ${supported}`,
    { id, found, supported },
  );

export class Stepper<S extends PersistedState> {
  readonly deps: StepperDeps<S>;

  constructor(deps: StepperDeps<S>) {
    this.deps = deps;
  }

  async apply(id: string, event: RolloutEvent, options: StepOptions<S> = {}): Promise<StepResult<S>> {
    for (let attempt = 0; attempt < maxConflicts; attempt++) {
      const result = await this.deps.lock.withLock(
        this.deps.keys.lock(id),
        () => this.once(id, event, options),
        { urgent: options.urgent === true },
      );
      if (result) return result;
    }
    throw stepConflict(id);
  }

  /** One try; undefined when the commit found a newer revision. */
  private async once(id: string, event: RolloutEvent, options: StepOptions<S>) {
    const { store, decider, clock, logger } = this.deps;
    const record = await store.load(id);
    if (!record) throw rolloutNotFound(id);
    if (record.state.schemaVersion !== decider.schemaVersion) {
      throw unsupportedSnapshot(id, record.state.schemaVersion, decider.schemaVersion);
    }
    options.precheck?.(record);
    const now = clock.now();
    const answeredEffectId = "effectId" in event ? event.effectId : undefined;

    if (answeredEffectId !== undefined && !(await store.outboxEntry(id, answeredEffectId))) {
      const reason = `effect ${answeredEffectId} is no longer pending`;
      await store.note(id, [ignoredEntry(event, reason, now)]);
      logger.info(
        { rolloutId: id, event: event.type, effectId: answeredEffectId, reason },
        "duplicate outcome ignored",
      );
      return { kind: "ignored" as const, record, reason };
    }

    const decision = decider.decide(record.state, event);
    if (decision.ignored !== undefined) {
      await store.note(id, [ignoredEntry(event, decision.ignored, now)], answeredEffectId);
      logger.info(
        { rolloutId: id, event: event.type, effectId: answeredEffectId, reason: decision.ignored },
        "stale event ignored",
      );
      return { kind: "ignored" as const, record, reason: decision.ignored };
    }

    const terminal = decider.isTerminal(decision.state);
    const phase = decider.describe(decision.state).phase;
    const heldBefore = decider.heldScaleSetIds(record.state);
    const heldAfter = decider.heldScaleSetIds(decision.state);
    const keep = new Set(heldAfter.map(scaleSetKey));
    const outbox = decision.effects.map((e) => outboxEntryFor(e, decision.state.revision, now));
    const committed = await store.commit({
      id,
      expectedRevision: record.revision,
      previousPhase: record.phase,
      state: decision.state,
      phase,
      terminal,
      updatedAt: now.toISOString(),
      claims: heldAfter,
      releases: heldBefore.filter((s) => !keep.has(scaleSetKey(s))),
      answeredEffectId,
      outbox,
      timeline: [...engineEntries(event, now), ...timelineEntries(decision.timeline, now)],
    });
    if (committed.kind === "conflict") return undefined;
    if (committed.kind === "missing") throw rolloutNotFound(id);
    if (committed.kind === "busy") throw scaleSetBusy(committed.scaleSetId, committed.holderId);

    await this.deps.queue.enqueue(id, outbox);
    const stillPending = new Set(decider.pendingEffectIds(decision.state));
    const cancelled = decider
      .pendingEffectIds(record.state)
      .filter((e) => e !== answeredEffectId && !stillPending.has(e));
    if (cancelled.length > 0) {
      // Not needed for correctness (the worker drops a cancelled effect it finds), only for a tidy queue.
      await Promise.all(cancelled.map((e) => store.dropOutboxEntry(id, e)));
      await this.deps.queue.cancel(id, cancelled);
    }
    logger.info(
      {
        rolloutId: id,
        event: event.type,
        effectId: answeredEffectId,
        revision: decision.state.revision,
        phase,
        effects: decision.effects.map((e) => `${e.kind}:${e.id}`),
      },
      "rollout step",
    );
    const next: RolloutRecord<S> = {
      ...record,
      state: decision.state,
      revision: decision.state.revision,
      phase,
      updatedAt: now.toISOString(),
    };
    return { kind: "applied" as const, record: next, decision };
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
