/**
 * What the engine needs of the rollout machine. The engine is written against this seam so it
 * never depends on the machine's internals; `machine-decider.ts` adapts machines/ to it.
 */
import type { Effect, RolloutEvent, UserEvent } from "../../domain/effects.ts";
import type { RolloutView } from "../../domain/rollout-view.ts";
import type { RolloutSpec } from "../../domain/spec.ts";

/** The machine's persisted snapshot: plain JSON stamped with a revision and a schema version. */
export interface PersistedState {
  revision: number;
  schemaVersion: number;
}

/** A line the machine wants in the release record; the engine adds `seq` and `at`. */
export interface DecidedTimelineEntry {
  type: string;
  message: string;
  actor: string;
  data?: Record<string, unknown>;
}

export interface Decision<S extends PersistedState = PersistedState> {
  state: S;
  effects: Effect[];
  timeline: DecidedTimelineEntry[];
  /** Set when the event changed nothing (a stale or duplicate outcome): the reason. */
  ignored?: string;
}

export type ActionCheck = { ok: true } | { ok: false; reason: string };

/** The machine's view of a rollout, before the engine adds what it keeps beside the snapshot. */
export type DescribedRollout = Omit<RolloutView, "createdAt" | "updatedAt" | "createdBy">;

/**
 * How a snapshot is laid out in the fields of its rollout's Redis hash. `encode` returns the
 * fields to write, `(field, json)`: always `state`, plus parts that differ from `base`, the
 * snapshot at the revision the commit replaces (all parts without it). `decode` reads them back;
 * a version it cannot read comes back with that version, and the engine refuses it.
 */
export interface SnapshotCodec<S extends PersistedState = PersistedState> {
  encode(state: S, base?: S): [field: string, json: string][];
  decode(fields: Record<string, string | undefined>): S | undefined;
}

/** The whole snapshot as JSON in `state`: for machines too small to split (tests, tools). */
export function wholeSnapshotCodec<S extends PersistedState>(): SnapshotCodec<S> {
  return {
    encode: (state) => [["state", JSON.stringify(state)]],
    decode: (fields) => (fields.state === undefined ? undefined : (JSON.parse(fields.state) as S)),
  };
}

export interface Decider<S extends PersistedState = PersistedState> {
  /** How the store lays the snapshot out (absent: `wholeSnapshotCodec`). */
  codec?: SnapshotCodec<S>;
  /** The snapshot schema this machine reads; the engine refuses to step any other. */
  schemaVersion: number;
  startRollout(input: { rolloutId: string; spec: RolloutSpec; createdBy: string }): Decision<S>;
  decide(state: S, event: RolloutEvent): Decision<S>;
  canApply(state: S, action: UserEvent["type"]): ActionCheck;
  describe(state: S): DescribedRollout;
  isTerminal(state: S): boolean;
  /** Whether the machine still waits for this effect; one it cancelled (a rollback began) is not run. */
  isPending(state: S, effectId: string): boolean;
  /** Every effect the machine waits for. */
  pendingEffectIds(state: S): string[];
  /** Scale sets the rollout holds now (invariant 3): claimed while active, released when terminal. */
  heldScaleSetIds(state: S): string[];
}
