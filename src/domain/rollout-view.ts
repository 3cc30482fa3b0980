/**
 * What a person or pipeline sees of a rollout: derived from the machine's snapshot by
 * `describeRollout` (machines/) plus what the engine keeps beside it (timeline, metadata).
 */
import type { GateResult, PreflightFinding, UserAction, WindowClosure } from "./effects.ts";
import type { ImageReference } from "./image.ts";
import type { RolloutSpec } from "./spec.ts";

/** Every phase a user sees, in the order a rollout usually meets them. */
export const rolloutPhases = [
  "pending",
  "preflight",
  "waitingForReplication",
  "waitingForWindow",
  "canary",
  "baking",
  "awaitingApproval",
  "promoting",
  "paused",
  "rollingBack",
  "completed",
  "rolledBack",
  "rejected",
  "failed",
] as const;

export type RolloutPhase = (typeof rolloutPhases)[number];

export const terminalPhases: ReadonlySet<RolloutPhase> = new Set([
  "completed",
  "rolledBack",
  "rejected",
  "failed",
]);

/**
 * Terminal phases retention may compact (src/engine/store/retention.ts): every terminal phase but
 * `failed`, which keeps its claims on what did not converge until it is rolled back or released.
 */
export const compactablePhases: readonly RolloutPhase[] = [...terminalPhases].filter(
  (phase) => phase !== "failed",
);

/** Phases of a rollout still under way. */
export const activePhases: readonly RolloutPhase[] = rolloutPhases.filter(
  (phase) => !terminalPhases.has(phase),
);

export type ScaleSetPhase =
  | "waiting"
  | "updatingModel"
  | "canary"
  | "baking"
  | "awaitingApproval"
  | "promoting"
  | "completed"
  | "rollingBack"
  | "rolledBack"
  | "failed";

export interface BatchView {
  index: number;
  /** `canary` for the first batch, `promotion` after it, `newInstances` for instances that appeared. */
  kind: "canary" | "promotion" | "newInstances";
  instanceIds: string[];
  status: "pending" | "upgrading" | "gating" | "passed" | "failed";
  gateResults: GateResult[];
}

export interface ScaleSetView {
  id: string;
  wave: string;
  phase: ScaleSetPhase;
  /** Recorded before the model was first changed; never overwritten. */
  previousImage?: ImageReference;
  /** Instances that took the new model: a rollback brings each of them back. */
  touchedInstanceIds: string[];
  /** Instances protected from scale-set actions: reported, never silently left behind. */
  protectedInstanceIds: string[];
  batches: BatchView[];
}

export interface RolloutView {
  id: string;
  name: string;
  phase: RolloutPhase;
  /** Why the rollout is where it is (a refusal, a failed gate, who aborted). */
  reason?: string;
  spec: RolloutSpec;
  /** The target with `latest` resolved to the version actually deployed. */
  targetImage?: ImageReference;
  waves: { name: string; scaleSetIds: string[]; status: "pending" | "active" | "done" }[];
  scaleSets: ScaleSetView[];
  findings: PreflightFinding[];
  /**
   * The change window of the wave about to start or last started (with change windows
   * configured): `closed` while the rollout is `waitingForWindow`, with what closes it and when
   * it opens next; `skipped` names who skipped it.
   */
  window?: {
    wave: string;
    status: "checking" | "closed" | "open" | "skipped";
    closedBy?: WindowClosure[];
    nextOpenAt?: string;
    skippedBy?: { actor: string; reason: string };
  };
  createdAt: string;
  updatedAt: string;
  createdBy: string;
  revision: number;
  /**
   * Set once retention compacted the rollout (retention.compactAfterSeconds after it ended): the
   * view is then the stored summary (gate evidence dropped), its timeline is gone and its release
   * record stays until retention.recordDays after the end.
   */
  compacted?: true;
  compactedAt?: string;
  /**
   * Which user actions the rollout accepts now and, for each it refuses, why (the machine's own
   * answer, `canApply`). Only on GET /v1/rollouts/{id}: lists leave it out (it restores the
   * machine once per action). Says nothing about the caller's role: GET /v1/whoami does.
   * A compacted rollout has none (every action answers 410).
   */
  actions?: RolloutActions;
}

/** Per user action: accepted in the rollout's phase now, or refused with the reason a person reads. */
export type RolloutActions = Record<UserAction, { allowed: true } | { allowed: false; reason: string }>;

/**
 * An effect the engine gave up on: it failed permanently, or ran out of attempts. Kept per rollout
 * (Redis hash `…:rollout:<id>:deadletters`, field = effect id) and never run again.
 */
export interface DeadLetter {
  rolloutId: string;
  effectId: string;
  kind: string;
  scaleSetId?: string;
  /** The last error's message (secrets redacted). */
  reason: string;
  /** The last error's code (`AZURE_403`, `ECONNRESET`, …). */
  code: string;
  /** Attempts made, the failing one included. */
  attempts: number;
  /** True when the last error was transient (attempts ran out); false when it was permanent. */
  transient: boolean;
  at: string;
}

/** One line of the release record. `seq` increases by one per rollout and is the SSE event id. */
export interface TimelineEntry {
  seq: number;
  at: string;
  actor: string;
  type: string;
  message: string;
  data?: Record<string, unknown>;
}
