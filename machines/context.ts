/**
 * What the rollout machine remembers between events, and the two ways a step speaks to the
 * outside world: `emitEffect` (an outbox entry the engine runs as a job) and `note` (a line of
 * the release record). Both are collected per step and handed out by `decide`.
 */
import type {
  Effect,
  EffectRequest,
  GateResult,
  PreflightFinding,
  WindowClosure,
} from "../src/domain/effects.ts";
import type { ImageReference } from "../src/domain/image.ts";
import type { RolloutSpec } from "../src/domain/spec.ts";

export interface RolloutSettings {
  /** Wait between evaluations of a verdict the runbook waits for that answered `inconclusive`. */
  gateRetrySeconds: number;
  /** After this long of inconclusive answers the gate's `onInconclusive` decides. */
  inconclusiveTimeoutSeconds: number;
  replicationPollSeconds: number;
  replicationTimeoutSeconds: number;
  /** An operator's cap on the spec's `strategy.maxParallelScaleSets`. */
  maxParallelScaleSets?: number;
  /** How long a rollback retries transient Azure failures before it ends `failed` (default 14400). */
  rollbackPersistSeconds?: number;
  /** First wait of the rollback's convergence loop after a transient failure; doubles, capped at 300 s (default 10). */
  rollbackRetrySeconds?: number;
  /**
   * Configuration had change windows or freezes when the rollout started: each wave asks
   * (`checkWindow`) before it starts. Absent/false: no check (nothing could close).
   */
  changeWindows?: boolean;
}

/**
 * The change window of the wave about to start (window-gate.ts). `checking`: a checkWindow is
 * pending; `closed`: it answered closed (a re-check timer is pending unless paused); `open` and
 * `skipped`: the wave may start (skipped by a person, recorded).
 */
export interface WaveWindow {
  waveIndex: number;
  status: "checking" | "closed" | "open" | "skipped";
  closedBy?: WindowClosure[];
  nextOpenAt?: string;
  /** When the last answer came (the engine's clock). */
  checkedAt?: string;
  skippedBy?: { actor: string; reason: string };
}

export interface BatchProgress {
  kind: "canary" | "promotion" | "newInstances";
  instanceIds: string[];
  status: "pending" | "upgrading" | "gating" | "passed" | "failed";
  gateResults: GateResult[];
}

/** How the timeline names a batch. */
export function batchLabel(batch: BatchProgress, index: number): string {
  return batch.kind === "canary"
    ? "canary batch"
    : batch.kind === "newInstances"
      ? "new instances"
      : `batch ${index}`;
}

/** Every state of the per-scale-set statechart; `scale-set.chart.ts` says what each waits for. */
export const scaleSetStates = [
  "waiting",
  "held",
  "settingModel",
  "upgrading",
  "verifyingBatch",
  "baking",
  "verifyingBake",
  "awaitingApproval",
  "betweenBatches",
  "observing",
  "gateHeld",
  "completed",
  "rollbackWaitingInFlight",
  "reverting",
  "inspecting",
  "rollbackUpgrading",
  "rollbackVerifying",
  "rollbackGateRetry",
  "rollbackRetryWait",
  "rolledBack",
  "rollbackFailed",
  "untouched",
] as const;
export type ScaleSetState = (typeof scaleSetStates)[number];

/** What a scale set that a pause caught does on `resume`: the change it was about to start. */
export type Continuation =
  | { next: "writeModel" }
  | { next: "upgrade"; batch: number; instanceIds: string[] }
  | { next: "observe" };

/**
 * The analysis region of a scale set (orthogonal to its runbook state): from the moment its canary
 * is back until it completes, its gates are evaluated every `strategy.analysis.intervalSeconds`.
 */
export interface AnalysisProgress {
  /** `evaluating`: an evaluateGates is pending; `waiting`: its next timer is. */
  status: "off" | "evaluating" | "waiting";
  /** The runbook waits for a verdict (a batch is back, or the bake ended). */
  want?: {
    /** The verdict ends a bake: metric gates must cover their window. */
    final: boolean;
    /** The pending evaluation was issued after the verdict was asked for, so it answers it. */
    answered: boolean;
  };
  /** Failed evaluations per gate since the canary came back (compared with `failureLimit`). */
  failures: Record<string, number>;
  /** Consecutive inconclusive evaluations while watching. */
  inconclusiveRounds: number;
  /** Identical answers (passes, inconclusive) collapse into one timeline entry: which, how many, from when to when. */
  streak?: { verdict?: "passed" | "inconclusive"; count: number; from: string; to: string };
  /** When the canary came back: metric windows start no earlier. */
  since?: string;
}

/** The rollback's convergence loop for one scale set. */
export interface RollbackProgress {
  /** When this rollback (or its latest resumption) began: the persistence budget counts from here. */
  startedAt?: string;
  /** Transient failures waited out so far in this rollback. */
  retries: number;
  /** Instances the loop brought back (upgraded to the previous image and verified). */
  revertedInstanceIds: string[];
  /** The batch being upgraded back or verified. */
  batch: string[];
  /** The last thing that went wrong (a transient failure being retried, or why it stopped). */
  lastError?: string;
}

export interface ScaleSetProgress {
  id: string;
  wave: string;
  waveIndex: number;
  /** Set only by `enter` in scale-set.chart.ts. */
  state: ScaleSetState;
  resumeWith?: Continuation;
  /** Recorded at preflight from the model (invariant 1): set once, never overwritten. */
  previousImage?: ImageReference;
  location?: string;
  capacity?: number;
  batches: BatchProgress[];
  /** Index in `batches` of the batch being upgraded or gated. */
  currentBatch: number;
  /** Instances canaryd knows exist (planned, protected or noticed later). */
  knownInstanceIds: string[];
  /** Instances asked to take the new model. */
  touchedInstanceIds: string[];
  /** When each instance came back on the new image (ISO): analysis evaluates exactly these. */
  upgradedAt: Record<string, string>;
  protectedInstanceIds: string[];
  /** A setModelImage was issued: the model may hold the target, so rollback reverts it. */
  modelWriteIssued: boolean;
  /** Someone else changed the model: canaryd does not write it again. */
  conflict?: { found: ImageReference };
  /** Evaluations of the verdict the runbook (or the rollback's health check) waits for. */
  gateAttempt: number;
  /** Which verification a gate hold interrupted: resume re-enters it. */
  verifying?: "batch" | "bake";
  analysis: AnalysisProgress;
  rollback: RollbackProgress;
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
  /** Set only by `requestRollback` (rollback-request.ts); the machine then enters rollingBack. */
  rollbackRequest?: { reason: string; actor: string; cause?: string };
  /** A failed rollout whose scale sets on-call handed back as they are (`release`). */
  released?: { actor: string; reason: string; at: string };
  /** True while paused: scale sets stop before their next change. */
  hold: boolean;
  /** Set by a step that decided to pause (a gate with automatic rollback off, or onInconclusive pause). */
  holdRequest?: string;
  /** The change window of the wave about to start (only with settings.changeWindows). */
  window?: WaveWindow;
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

/** A deep copy of plain JSON (what the snapshot and timeline hold): a JSON round trip. */
export function plainCopy<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

export function note(
  ctx: RolloutContext,
  type: string,
  message: string,
  data?: Record<string, unknown>,
  actor: string = outcomeActor,
): void {
  // A copy: actions mutate the step's draft in place, and a line must say what was true when written.
  ctx.log.push(data ? { type, message, actor, data: plainCopy(data) } : { type, message, actor });
}

/**
 * Forget pending effects matching `drop`: their outcomes will arrive stale and be ignored. One
 * emitted earlier in this same step never reaches the outbox at all.
 */
export function cancelPending(ctx: RolloutContext, drop: (e: Effect) => boolean): void {
  for (const [id, effect] of Object.entries(ctx.pending)) {
    if (drop(effect)) delete ctx.pending[id];
  }
  ctx.outbox = ctx.outbox.filter((e) => e.id in ctx.pending);
}

/**
 * What the snapshot keeps of a gate result. A scale set's record is rewritten whole by every step
 * that changes it (snapshot-codec.ts), so a passed gate keeps only its counts and summary here; its per-instance lists stay in
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

/**
 * Moves a scale set to another state of its chart. Every handler's move is checked against the
 * targets the chart declares for it (scale-set.chart.ts), so the chart is what the code does.
 */
export function enter(ss: ScaleSetProgress, state: ScaleSetState): void {
  ss.state = state;
}
