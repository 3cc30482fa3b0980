/**
 * The contract between the pure rollout machine (machines/) and the engine (src/engine/).
 *
 * The machine never performs I/O: it answers each event with a new snapshot and a list of
 * effects. The engine persists both in one Redis transaction (the outbox), runs each effect as a
 * BullMQ job, and feeds the outcome back as the next event. Every outcome names the effect it
 * answers (`effectId`); an outcome for an effect that is no longer pending is stale and ignored.
 */
import type { InstanceFacts, ScaleSetFacts } from "./fleet.ts";
import type { ImageReference } from "./image.ts";
import type { GateSpec } from "./spec.ts";

/**
 * Delayed jobs the machine asks for. `analysis`: the next evaluation of a scale set's gates while
 * it is in flight; `gateRetry`: an evaluation the runbook waits on answered inconclusive;
 * `rollbackRetry`: the convergence loop waits out a transient Azure failure; `window`: a closed
 * change window is checked again (at its nextOpenAt).
 */
export type TimerKind =
  | "bake"
  | "pauseBetweenBatches"
  | "approvalTimeout"
  | "gateRetry"
  | "analysis"
  | "rollbackRetry"
  | "replicationPoll"
  | "window";

export type EffectRequest =
  /** Read every scale set of the spec and the image's availability; record baselines. */
  | { kind: "preflight" }
  /** Read the gallery version's replication status in the regions of the spec's scale sets. */
  | { kind: "checkReplication" }
  /** Write the model's imageReference; refuses if the model holds neither `previous` nor `target`. */
  | { kind: "setModelImage"; scaleSetId: string; target: ImageReference; previous: ImageReference }
  /**
   * One manual upgrade (`updateInstances`) of these instances, observed until they are back.
   * Model guard (invariant 8): before every `updateInstances` the executor reads the model; unless
   * it holds `image` (what canaryd wrote), the answer is `model.conflict` and nothing is issued.
   */
  | {
      kind: "upgradeInstances";
      scaleSetId: string;
      instanceIds: string[];
      image: ImageReference;
      purpose: "rollout" | "rollback";
    }
  /**
   * List the scale set's instances to notice ones that appeared (scale-out, repair), after
   * reading the model: unless it still holds `image` (the target canaryd wrote), the answer is
   * `model.conflict`. Absent `image`: no model check.
   */
  | { kind: "observeScaleSet"; scaleSetId: string; knownInstanceIds: string[]; image?: ImageReference }
  /**
   * Evaluate gates on these instances. `analysis`: the spec's gates on every instance that runs
   * the new image so far (continuous analysis); `rollback`: instance health after a revert.
   * `attempt` counts evaluations of the verdict the runbook waits for.
   */
  | {
      kind: "evaluateGates";
      scaleSetId: string;
      /** Absent: analysis. */
      purpose?: "analysis" | "rollback";
      instanceIds: string[];
      gates: GateSpec[];
      maxUnhealthyPercent: number;
      /** ISO time the first of these instances came back on the image: metric windows start no earlier. */
      since: string;
      attempt: number;
      /**
       * Continuous analysis (all optional; absent = the single-look behaviour). Instances of the
       * same scale set still on the previous image: the compare gate's baseline. Fewer than two
       * and the compare gate judges before/after (each upgraded instance against its own samples
       * from an equal window before `upgradedAt`).
       */
      baselineInstanceIds?: string[];
      /**
       * ISO time each instance of `instanceIds` came back on the new image (its batch's
       * `instances.upgraded` time). Per instance, metric and compare windows start no earlier
       * (instances of earlier batches have more data); the before/after window ends there.
       * An instance absent here uses `since`.
       */
      upgradedAt?: Record<string, string>;
      /**
       * True for the evaluation whose verdict may end a bake (or complete the scale set): it must
       * cover `requiredCoverageSeconds` of data; with less, a verdict that is not failed is
       * inconclusive ("not enough data yet"). False/absent: an interim look, judged on the data
       * so far (a metric gate passes on what is there; a breach fails at once).
       */
      final?: boolean;
      /**
       * The bake length: a final metric gate covers min(windowSeconds, this) seconds of data
       * after `since`, a final compare gate this many seconds. Absent: the metric gate's window.
       */
      requiredCoverageSeconds?: number;
    }
  /**
   * Whether the change windows and freezes of configuration (src/windows/) let this wave start
   * now, read with the engine's clock. Emitted only before a wave's first scale set starts (never
   * in the middle of a batch) and never by a rollback.
   */
  | { kind: "checkWindow"; wave: string; waveIndex: number; scaleSetIds: string[] }
  /** A delayed job that answers with `timer.fired`. */
  | { kind: "startTimer"; timer: TimerKind; scaleSetId?: string; delaySeconds: number }
  /** Put the model back to exactly the recorded previous reference. */
  | { kind: "revertModel"; scaleSetId: string; previous: ImageReference; target: ImageReference }
  /**
   * The rollback's read (level-triggered): the model and every instance that exists now, each
   * classified against `image` (the recorded previous image).
   */
  | { kind: "inspectScaleSet"; scaleSetId: string; image: ImageReference; target?: ImageReference };

/** An effect as the machine emits it: `id` is unique within the rollout and deterministic. */
export type Effect = EffectRequest & { id: string };

export type GateVerdict = "passed" | "failed" | "inconclusive";

/** Evidence, not a boolean: what was measured, against what, when, on which instances. */
export interface GateResult {
  /** The gate's kind. */
  gate: GateSpec["kind"];
  /** The gate's name (its spec `name`, or its kind): unique within the rollout's gates. */
  name: string;
  verdict: GateVerdict;
  summary: string;
  measuredAt: string;
  instanceIds: string[];
  /** Gate-specific evidence (matched log line, metric values and threshold, health counts...). */
  evidence: Record<string, unknown>;
  /** True when the failure is Azure's (allocation, quota, instance never came back), not the image's. */
  platformFailure?: boolean;
}

/** What one gate's judge returns; evaluateGates adds the gate's name. */
export type GateJudgement = Omit<GateResult, "name">;

export interface PreflightFinding {
  scaleSetId?: string;
  region?: string;
  code: string;
  message: string;
}

/**
 * The target image as preflight read it, kept in the timeline (`preflight.image`, written by the
 * step beside the machine's own lines) so the release record never needs a later read of Azure.
 */
export interface ImageFacts {
  reference: ImageReference;
  /** The exact version (a gallery version's name, a marketplace version). */
  version?: string;
  publishedDate?: string;
  endOfLifeDate?: string;
  excludeFromLatest?: boolean;
  /**
   * Per region of the spec's scale sets: a gallery version's replication state there
   * (`completed`, `replicating`, `failed`, `unknown`, `notTargeted`), or for a marketplace image
   * `available` / `missing`.
   */
  replication: Record<string, string>;
  readAt: string;
}

/** A rollout that goes ahead despite a policy refusal: from the spec's `exception`. */
export interface PolicyException {
  reason: string;
  ticket: string;
  /** The findings it overrode. */
  overrides: PreflightFinding[];
}

/** What keeps a change window closed (src/windows/window-state.ts `windowState`). */
export interface WindowClosure {
  kind: "deny" | "freeze" | "outsideAllow";
  /** The deny or allow window's name, or the freeze's reason. */
  name: string;
  /** A freeze's ticket. */
  ticket?: string;
  /** When the deny occurrence or freeze ends (ISO); absent for outsideAllow. */
  until?: string;
}

interface Outcome {
  effectId: string;
  /** Wall-clock time the engine observed the outcome (the machine has no clock). */
  at: string;
}

export type OutcomeEvent =
  | (Outcome & {
      type: "preflight.passed";
      scaleSets: ScaleSetFacts[];
      /** Target image with `latest` resolved to the exact version, where allowed. */
      resolvedImage: ImageReference;
      replication: "completed" | "replicating";
      /**
       * What preflight resolved on its own and the timeline should show, e.g. `previousImageResolved`:
       * a model on `latest` or an image definition recorded as the exact version its instances run.
       */
      notices?: PreflightFinding[];
      /** The image as read (recorded by the step as `preflight.image`). */
      image?: ImageFacts;
      /** A policy refusal the spec's exception overrode (recorded as `policy.exception`). */
      exception?: PolicyException;
    })
  | (Outcome & { type: "preflight.refused"; findings: PreflightFinding[]; image?: ImageFacts })
  | (Outcome & {
      type: "replication.checked";
      status: "completed" | "replicating" | "failed";
      findings: PreflightFinding[];
    })
  | (Outcome & { type: "model.updated"; scaleSetId: string })
  | (Outcome & { type: "model.conflict"; scaleSetId: string; found: ImageReference })
  | (Outcome & { type: "instances.upgraded"; scaleSetId: string; instances: InstanceFacts[] })
  | (Outcome & {
      type: "instances.upgradeFailed";
      scaleSetId: string;
      reason: string;
      platformFailure: boolean;
    })
  | (Outcome & { type: "scaleSet.observed"; scaleSetId: string; newInstances: InstanceFacts[] })
  | (Outcome & { type: "gates.evaluated"; scaleSetId: string; verdict: GateVerdict; results: GateResult[] })
  | (Outcome & { type: "timer.fired"; timer: TimerKind; scaleSetId?: string })
  | (Outcome & { type: "model.reverted"; scaleSetId: string })
  /** The answer of `checkWindow`: open, or closed with what closes it and when it opens next. */
  | (Outcome & { type: "window.checked"; open: boolean; closedBy: WindowClosure[]; nextOpenAt?: string })
  | (Outcome & {
      type: "scaleSet.inspected";
      scaleSetId: string;
      /** The model holds exactly the image asked about. */
      modelOnImage: boolean;
      model?: ImageReference;
      instances: InspectedInstance[];
    })
  /**
   * The engine gave up on an effect: it failed permanently (authorization, bad request, deleted
   * resource: attempted once), or every attempt failed transiently. `transient` says which: true
   * when the last error was transient, so the same work may succeed later (a rollback may try
   * again under its own budget); false when it was permanent and repeating it cannot help.
   */
  | (Outcome & { type: "effect.failed"; reason: string; transient: boolean });

/** One instance as the rollback's read sees it against the image it must run. */
export interface InspectedInstance {
  instanceId: string;
  /** Runs exactly the image asked about. */
  onImage: boolean;
  /** Runs the rollout's target image (what canaryd put there); absent when not asked. */
  onTarget?: boolean;
  latestModelApplied: boolean;
  protectedFromScaleSetActions: boolean;
  provisioningState: string;
}

/**
 * Every outcome type, once. The machine routes outcomes with this list; the type below fails to
 * compile when an `OutcomeEvent` variant is missing from it.
 */
export const outcomeTypes = [
  "preflight.passed",
  "preflight.refused",
  "replication.checked",
  "model.updated",
  "model.conflict",
  "instances.upgraded",
  "instances.upgradeFailed",
  "scaleSet.observed",
  "scaleSet.inspected",
  "gates.evaluated",
  "timer.fired",
  "model.reverted",
  "window.checked",
  "effect.failed",
] as const satisfies readonly OutcomeEvent["type"][];
export type OutcomeType = (typeof outcomeTypes)[number];
const everyOutcomeListed: [Exclude<OutcomeEvent["type"], OutcomeType>] extends [never] ? true : false = true;
void everyOutcomeListed;

/**
 * What a person can ask of a rollout (the API's action routes, the CLI, the machine's user events).
 * `release` hands back the scale sets a failed rollback still holds, as they are; `skipWindow`
 * starts the wave a closed change window holds (on-call, with a reason).
 */
export const userActions = [
  "pause",
  "resume",
  "approve",
  "abort",
  "rollback",
  "release",
  "skipWindow",
] as const;
export type UserAction = (typeof userActions)[number];

export interface Actor {
  /** Who acted: a token's name, `system`, or `anonymous` when auth is off. */
  id: string;
  role?: string;
}

export type UserEvent = {
  type: UserAction;
  actor: Actor;
  reason?: string;
  at: string;
};

export type RolloutEvent = OutcomeEvent | UserEvent;
