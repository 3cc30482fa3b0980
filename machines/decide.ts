/**
 * The engine's entry points: start a rollout, answer one event, ask whether a user event would
 * be accepted. Each call is pure: a persisted snapshot and an event in, the next snapshot, the
 * effects to run and the timeline lines to append out.
 */
import { type Draft, Immer } from "immer";
import { initialTransition, transition } from "xstate";
import type { Effect, RolloutEvent, UserEvent } from "../src/domain/effects.ts";
import type { RolloutSpec } from "../src/domain/spec.ts";
import { plainCopy, type RolloutContext, type RolloutSettings, type TimelineDraft } from "./context.ts";
import { describePhase } from "./describe.ts";
import { RolloutSchemaVersionError } from "./errors.ts";
import { isOutcome, type MachineEvent, type RolloutStateName, rolloutMachine } from "./rollout.machine.ts";

export type { RolloutSettings } from "./context.ts";

/**
 * Bump when the persisted shape changes incompatibly; the engine refuses what it cannot read.
 * 3: stored as a header and one field per scale set (snapshot-codec.ts, which migrates 2).
 */
export const rolloutSchemaVersion = 3;

/** What the engine stores: plain JSON. `revision` increases by one per accepted event. */
export interface PersistedRollout {
  schemaVersion: number;
  revision: number;
  state: RolloutStateName;
  context: RolloutContext;
}

export interface Decision {
  state: PersistedRollout;
  /** New effects to run (the outbox of this step); each `id` is unique within the rollout and has no ':'. */
  effects: Effect[];
  timeline: TimelineDraft[];
  /** Set when the event changed nothing: why (stale effect id, not allowed in this phase). */
  ignored?: string;
}

export type UserEventType = UserEvent["type"];

/**
 * Drafts of the context (immer): the machine's actions mutate the draft in place
 * (rollout.machine.ts, `withDraft`); finishing it copies only what they changed. Whatever no
 * action touched (most scale sets, the spec) is the very object the snapshot held before, so a
 * step costs what it changes, not the size of the fleet, and the store writes back only the
 * scale sets that changed (snapshot-codec.ts compares by identity). Not frozen: callers must
 * not mutate a decided snapshot all the same (the store shares it from its cache).
 */
const drafts = new Immer({ autoFreeze: false });

function checkSchema(state: PersistedRollout): void {
  if (state.schemaVersion !== rolloutSchemaVersion) {
    throw new RolloutSchemaVersionError(
      `rollout snapshot has schema version ${state.schemaVersion}; this canaryd reads ${rolloutSchemaVersion}`,
    );
  }
}

/** The snapshot as the machine's state, read only (canApply evaluates guards, never actions). */
function restoreForReading(state: PersistedRollout) {
  checkSchema(state);
  return rolloutMachine.resolveState({
    value: state.state,
    context: { ...state.context, outbox: [], log: [] },
  });
}

/**
 * The snapshot as a machine state whose context is a draft. xstate's `assign` copies the top
 * level of the context into a new object each time; the nested objects stay the draft's children,
 * so every change below the top level is recorded in `root`, and `persist` writes the top level back.
 */
function restoreDraft(state: PersistedRollout, revision: number) {
  checkSchema(state);
  const root = drafts.createDraft(state.context);
  const snapshot = rolloutMachine.resolveState({
    value: state.state,
    context: { ...root, revision, effectSeq: 0, outbox: [], log: [] },
  });
  return { snapshot, root };
}

function persist(
  snapshot: ReturnType<typeof restoreForReading>,
  revision: number,
  root: Draft<RolloutContext>,
): Decision {
  const context = snapshot.context as unknown as Record<string, unknown>;
  const draft = root as unknown as Record<string, unknown>;
  for (const key of Object.keys(draft)) if (!(key in context)) delete draft[key];
  for (const [key, value] of Object.entries(context)) draft[key] = value;
  const { outbox, log, ...rest } = drafts.finishDraft(root) as RolloutContext;
  return {
    state: {
      schemaVersion: rolloutSchemaVersion,
      revision,
      state: snapshot.value as RolloutStateName,
      context: { ...rest, outbox: [], log: [] },
    },
    effects: outbox,
    timeline: log,
  };
}

export function startRollout(input: {
  rolloutId: string;
  spec: RolloutSpec;
  settings: RolloutSettings;
  createdBy: string;
}): Decision {
  const [initial] = initialTransition(rolloutMachine, {
    rolloutId: input.rolloutId,
    name: input.spec.name,
    createdBy: input.createdBy,
    spec: input.spec,
    settings: input.settings,
  });
  // A copy, so the caller's spec is never changed; then a draft of it, as every step's.
  const { snapshot, root } = restoreDraft(
    {
      schemaVersion: rolloutSchemaVersion,
      revision: 0,
      state: initial.value as RolloutStateName,
      context: plainCopy(initial.context),
    },
    1,
  );
  const [next] = transition(rolloutMachine, snapshot, { type: "rollout.start" } satisfies MachineEvent);
  return persist(next, 1, root);
}

const notAllowed: Record<UserEventType, string> = {
  pause: "pause holds a rollout that is in preflight or moving scale sets (once)",
  resume: "resume continues a paused rollout",
  approve: "approve answers a rollout that is waiting for approval",
  abort: "abort stops a rollout that has not ended",
  rollback: "rollback reverts a rollout that has not ended, one that completed, or resumes one that failed",
  release: "release hands back the scale sets of a failed rollout that still holds them",
  skipWindow: "skip-window starts a wave that waits for a closed change window",
};

/** Whether a user event would be accepted now; the reason is for a person (the API's 409). */
export function canApply(
  state: PersistedRollout,
  type: UserEventType,
): { ok: true } | { ok: false; reason: string } {
  const snapshot = restoreForReading(state);
  const probe = { type, actor: { id: "probe" }, at: "" } as UserEvent;
  if (snapshot.can(probe)) return { ok: true };
  const phase = describePhase(state);
  return { ok: false, reason: `cannot ${type} while the rollout is ${phase}: ${notAllowed[type]}` };
}

export function decide(state: PersistedRollout, event: RolloutEvent): Decision {
  if (isOutcome(event) && !(event.effectId in state.context.pending)) {
    return {
      state,
      effects: [],
      timeline: [],
      ignored: `stale outcome: effect ${event.effectId} is not pending`,
    };
  }
  if (!isOutcome(event)) {
    const allowed = canApply(state, event.type);
    if (!allowed.ok) return { state, effects: [], timeline: [], ignored: allowed.reason };
  }
  const revision = state.revision + 1;
  const { snapshot, root } = restoreDraft(state, revision);
  const [next] = transition(rolloutMachine, snapshot, event);
  return persist(next, revision, root);
}
