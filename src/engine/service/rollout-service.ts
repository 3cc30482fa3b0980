/**
 * What the API and CLI may ask of the engine. The engine implements it; the API knows nothing
 * of BullMQ, Redis keys or the machine's snapshot.
 */
import type { Actor, PolicyException, PreflightFinding, UserAction } from "../../domain/effects.ts";
import type { ReleaseRecord } from "../../domain/release-record.ts";
import type { DeadLetter, RolloutPhase, RolloutView, TimelineEntry } from "../../domain/rollout-view.ts";
import type { RolloutSpec } from "../../domain/spec.ts";

/** What a person can ask of a rollout: the domain's one list (src/domain/effects.ts `userActions`). */
export type RolloutAction = UserAction;

export interface ListRolloutsQuery {
  phase?: RolloutPhase;
  scaleSetId?: string;
  limit: number;
  /** Opaque cursor from a previous page. */
  cursor?: string;
}

export interface RolloutPlan {
  waves: {
    name: string;
    scaleSets: {
      id: string;
      previousImage?: unknown;
      batches: { kind: "canary" | "promotion"; instanceIds: string[] }[];
      protectedInstanceIds: string[];
    }[];
  }[];
  findings: PreflightFinding[];
  /** What preflight would note without refusing (an end of life within policy.eolWarningDays…). */
  warnings?: PreflightFinding[];
  /** The policy exception the spec would go ahead under. */
  exception?: PolicyException;
  /** False when preflight would refuse the rollout. */
  wouldStart: boolean;
}

export interface RolloutService {
  /** Starts a rollout. Throws ScaleSetBusyError when another active rollout holds a scale set. */
  start(spec: RolloutSpec, options: { actor: Actor; idempotencyKey?: string }): Promise<RolloutView>;
  /** The dry run: reads the fleet, changes nothing. */
  plan(spec: RolloutSpec): Promise<RolloutPlan>;
  /** A compacted rollout answers its summary view, marked `compacted` (src/engine/store/retention.ts). */
  get(id: string): Promise<RolloutView | undefined>;
  /** The release record stored when the rollout was compacted; undefined when it was not. */
  compactedRecord(id: string): Promise<ReleaseRecord | undefined>;
  list(query: ListRolloutsQuery): Promise<{ items: RolloutView[]; nextCursor?: string }>;
  /** Throws RolloutNotFoundError, or ActionNotAllowedError (409) naming the phase and why. */
  act(id: string, action: RolloutAction, actor: Actor, reason?: string): Promise<RolloutView>;
  /**
   * On-call's one call: rolls back the active rollout holding the scale set, or else the newest
   * one that left it changed (completed, or failed after changing it). Throws SupersededError
   * when a newer such rollout replaced it.
   */
  rollbackScaleSet(scaleSetId: string, actor: Actor, reason?: string): Promise<RolloutView>;
  /** Effects the engine gave up on (failed permanently or out of attempts), oldest first. */
  deadLetters(id: string): Promise<DeadLetter[]>;
  /** Timeline entries with seq > afterSeq, oldest first. */
  timeline(id: string, afterSeq?: number): Promise<TimelineEntry[]>;
  /** Calls back for each new timeline entry (across daemon processes); returns the unsubscribe. */
  subscribe(id: string, onEntry: (entry: TimelineEntry) => void): Promise<() => Promise<void>>;
  /** Resolves with the rollout once terminal, or with its current state when the timeout passes. */
  waitForTerminal(id: string, timeoutMs: number, signal?: AbortSignal): Promise<RolloutView>;
  /** True while Redis answers and the workers run (for /readyz). */
  ready(): Promise<{ ready: boolean; checks: Record<string, boolean> }>;
}

/** Errors with codes, in the manner of Fastify's and BullMQ's. */
export class CanarydError extends Error {
  readonly code: string;
  readonly statusCode: number;
  readonly details: Record<string, unknown>;
  constructor(code: string, statusCode: number, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = "CanarydError";
    this.code = code;
    this.statusCode = statusCode;
    this.details = details;
  }
}

/** A record this canaryd cannot read (written by a newer release): refused, never misread. */
export const unsupportedSnapshot = (id: string, found: number, supported: number) =>
  new CanarydError(
    "UNSUPPORTED_SNAPSHOT",
    500,
    `rollout ${id} was stored with snapshot schema ${found}; this canaryd reads ${supported}`,
    { id, found, supported },
  );

export const rolloutNotFound = (id: string) =>
  new CanarydError(
    "ROLLOUT_NOT_FOUND",
    404,
    `no rollout with id ${id} (it never existed, or it ended more than retention.recordDays ago and its record expired)`,
    { id },
  );

/** 410: retention compacted the rollout; what was asked of it is gone, its record is not. */
export const rolloutCompacted = (id: string, compactedAt: string, what: string) =>
  new CanarydError(
    "ROLLOUT_COMPACTED",
    410,
    `rollout ${id} was compacted at ${compactedAt} (retention.compactAfterSeconds after it ended): ${what}; its release record stays at /v1/rollouts/${id}/record`,
    { id, compactedAt },
  );

export const scaleSetBusy = (scaleSetId: string, holderId: string) =>
  new CanarydError(
    "SCALE_SET_BUSY",
    409,
    `scale set ${scaleSetId} is held by rollout ${holderId} (active, or failed with its rollback not converged there: roll it back again or release it)`,
    {
      scaleSetId,
      holderId,
    },
  );

export const actionNotAllowed = (id: string, action: RolloutAction, phase: RolloutPhase, why: string) =>
  new CanarydError("ACTION_NOT_ALLOWED", 409, `cannot ${action} rollout ${id} in phase ${phase}: ${why}`, {
    id,
    action,
    phase,
  });

export const superseded = (scaleSetId: string, rolloutId: string, newerId: string) =>
  new CanarydError(
    "SUPERSEDED",
    409,
    `rollout ${rolloutId} on ${scaleSetId} was superseded by the newer rollout ${newerId}; roll back ${newerId} instead`,
    { scaleSetId, rolloutId, newerId },
  );

export const nothingToRollBack = (scaleSetId: string) =>
  new CanarydError(
    "NOTHING_TO_ROLL_BACK",
    404,
    `no active, completed or failed rollout changed scale set ${scaleSetId}`,
    {
      scaleSetId,
    },
  );

export const storeUnavailable = (cause: string) =>
  new CanarydError("STORE_UNAVAILABLE", 503, `Redis is not reachable: ${cause}`);
