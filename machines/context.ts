/**
 * What the rollout machine remembers between events, and the two ways a step speaks to the
 * outside world: `emitEffect` (an outbox entry the engine runs as a job) and `note` (a line of
 * the release record). Both are collected per step and handed out by `decide`.
 */
import type { Effect, EffectRequest, GateResult, PreflightFinding } from "../src/domain/effects.ts";
import type { ImageReference } from "../src/domain/image.ts";
import type { RolloutSpec } from "../src/domain/spec.ts";

export interface RolloutSettings {
  /** Wait between evaluations of a gate that answered `inconclusive`. */
  gateRetrySeconds: number;
  /** After this long of inconclusive answers the gate's `onInconclusive` decides. */
  inconclusiveTimeoutSeconds: number;
  replicationPollSeconds: number;
  replicationTimeoutSeconds: number;
  /** Overrides the spec's `strategy.maxParallelScaleSets` (an operator's cap). */
  maxParallelScaleSets?: number;
}

export interface BatchProgress {
  kind: "canary" | "promotion" | "newInstances";
  instanceIds: string[];
  status: "pending" | "upgrading" | "gating" | "passed" | "failed";
  gateResults: GateResult[];
}

/**
 * Where one scale set is in its runbook. Rollout steps first, then rollback steps:
 * - `held`: a pause caught it before its next change (`resumeWith` says which).
 * - `gateHeld`: a gate failed or stayed inconclusive and the spec says pause; resume re-evaluates.
 * - `untouched`: a rollback found nothing of ours on it.
 */
export type ScaleSetStep =
  | "waiting"
  | "settingModel"
  | "upgrading"
  | "gating"
  | "gateRetry"
  | "baking"
  | "awaitingApproval"
  | "betweenBatches"
  | "observing"
  | "held"
  | "gateHeld"
  | "completed"
  | "rollbackWaitingInFlight"
  | "reverting"
  | "rollbackUpgrading"
  | "rollbackGating"
  | "rollbackGateRetry"
  | "rolledBack"
  | "rollbackFailed"
  | "untouched";

export interface ScaleSetProgress {
  id: string;
  wave: string;
  waveIndex: number;
  step: ScaleSetStep;
  resumeWith?: "setModel" | "observe";
  /** Recorded at preflight from the model (invariant 1): set once, never overwritten. */
  previousImage?: ImageReference;
  location?: string;
  capacity?: number;
  batches: BatchProgress[];
  /** Index in `batches` of the batch being upgraded or gated. */
  currentBatch: number;
  /** Instances canaryd knows exist (planned, protected or noticed later). */
  knownInstanceIds: string[];
  /** Instances asked to take the new model: a rollback brings each back (invariant 2). */
  touchedInstanceIds: string[];
  protectedInstanceIds: string[];
  /** A setModelImage was issued: the model may hold the target, so rollback reverts it. */
  modelWriteIssued: boolean;
  /** Someone else changed the model: canaryd does not write it again. */
  conflict?: { found: ImageReference };
  gateAttempt: number;
  gateSince?: string;
  rollbackResults: GateResult[];
  failure?: string;
}

export interface TimelineDraft {
  type: string;
  message: string;
  actor: string;
  data?: Record<string, unknown>;
}

export interface RolloutContext {
  rolloutId: string;
  name: string;
  createdBy: string;
  spec: RolloutSpec;
  settings: RolloutSettings;
  /** The revision this step produces; effect ids carry it so they are unique and deterministic. */
  revision: number;
  effectSeq: number;
  targetImage: ImageReference;
  scaleSets: ScaleSetProgress[];
  waveIndex: number;
  approvedWaves: number[];
  approvalTimerEffectId?: string;
  replicationPolls: number;
  findings: PreflightFinding[];
  reason?: string;
  /** Effects emitted and not yet answered, by id. An outcome for any other id is stale. */
  pending: Record<string, Effect>;
  /** Set by a step that decided the rollout must roll back; the machine then enters rollingBack. */
  rollbackRequest?: { reason: string; actor: string };
  /** True while paused: scale sets stop before their next change. */
  hold: boolean;
  /** Set by a step that decided to pause (a gate with automatic rollback off, or onInconclusive pause). */
  holdRequest?: string;
  /** Everything the scale sets had to do is done. */
  allDone: boolean;
  /** This step's new effects and timeline lines; `decide` hands them out and clears them. */
  outbox: Effect[];
  log: TimelineDraft[];
}

export const outcomeActor = "canaryd";

export function emitEffect(ctx: RolloutContext, request: EffectRequest): Effect {
  const effect = { ...request, id: `r${ctx.revision}e${ctx.effectSeq}` } as Effect;
  ctx.effectSeq += 1;
  ctx.outbox.push(effect);
  ctx.pending[effect.id] = effect;
  return effect;
}

export function note(
  ctx: RolloutContext,
  type: string,
  message: string,
  data?: Record<string, unknown>,
  actor: string = outcomeActor,
): void {
  ctx.log.push(data ? { type, message, actor, data } : { type, message, actor });
}

/** Forget pending effects matching `drop`: their outcomes will arrive stale and be ignored. */
export function cancelPending(ctx: RolloutContext, drop: (e: Effect) => boolean): void {
  for (const [id, effect] of Object.entries(ctx.pending)) {
    if (drop(effect)) delete ctx.pending[id];
  }
}

/**
 * What the snapshot keeps of a gate result. Every step reads, copies and rewrites the snapshot
 * whole, so a passed gate keeps only its counts and summary here; its per-instance lists stay in
 * its `gates.evaluated` timeline entry (the release record). Failed and inconclusive results keep
 * all their evidence: that is what on-call reads.
 */
export function retainedResult(result: GateResult): GateResult {
  if (result.verdict !== "passed") return result;
  const evidence = Object.fromEntries(
    Object.entries(result.evidence).filter(([, value]) => !Array.isArray(value)),
  );
  return { ...result, evidence };
}
