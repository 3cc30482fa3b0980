/**
 * The engine's entry points: start a rollout, answer one event, ask whether a user event would
 * be accepted. Each call is pure: a persisted snapshot and an event in, the next snapshot, the
 * effects to run and the timeline lines to append out.
 */
import { initialTransition, transition } from "xstate";
import type { Effect, RolloutEvent, UserEvent } from "../src/domain/effects.ts";
import type { RolloutSpec } from "../src/domain/spec.ts";
import { plainCopy, type RolloutContext, type RolloutSettings, type TimelineDraft } from "./context.ts";
import { describePhase } from "./describe.ts";
import { RolloutSchemaVersionError } from "./errors.ts";
import { isOutcome, type MachineEvent, type RolloutStateName, rolloutMachine } from "./rollout.machine.ts";

export type { RolloutSettings } from "./context.ts";

/** Bump when the persisted shape changes incompatibly; the engine refuses what it cannot read. */
export const rolloutSchemaVersion = 2;

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
 * `draft`: the step's one deep copy of the context, which the machine's actions then mutate in
 * place (rollout.machine.ts, `withDraft`). Without it (canApply only evaluates guards) the
 * snapshot is read, never written.
 */
function restore(state: PersistedRollout, revision: number, draft: boolean) {
  if (state.schemaVersion !== rolloutSchemaVersion) {
    throw new RolloutSchemaVersionError(
      `rollout snapshot has schema version ${state.schemaVersion}; this canaryd reads ${rolloutSchemaVersion}`,
    );
  }
  const context = draft ? plainCopy(state.context) : state.context;
  return rolloutMachine.resolveState({
    value: state.state,
    context: { ...context, revision, effectSeq: 0, outbox: [], log: [] },
  });
}

function persist(snapshot: ReturnType<typeof restore>, revision: number): Decision {
  const { outbox, log, ...rest } = snapshot.context;
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
  // The draft this step's actions mutate: a copy, so the caller's spec is never changed.
  const start = rolloutMachine.resolveState({
    value: initial.value,
    context: { ...plainCopy(initial.context), revision: 1 },
  });
  const [next] = transition(rolloutMachine, start, { type: "rollout.start" } satisfies MachineEvent);
  return persist(next, 1);
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
  const snapshot = restore(state, state.revision, false);
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
  const [next] = transition(rolloutMachine, restore(state, revision, true), event);
  return persist(next, revision);
}
