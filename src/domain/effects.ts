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

export type TimerKind = "bake" | "pauseBetweenBatches" | "approvalTimeout" | "gateRetry" | "replicationPoll";

export type EffectRequest =
  /** Read every scale set of the spec and the image's availability; record baselines. */
  | { kind: "preflight" }
  /** Read the gallery version's replication status in the regions of the spec's scale sets. */
  | { kind: "checkReplication" }
  /** Write the model's imageReference; refuses if the model holds neither `previous` nor `target`. */
  | { kind: "setModelImage"; scaleSetId: string; target: ImageReference; previous: ImageReference }
  /** One manual upgrade (`updateInstances`) of these instances, observed until they are back. */
  | {
      kind: "upgradeInstances";
      scaleSetId: string;
      instanceIds: string[];
      image: ImageReference;
      purpose: "rollout" | "rollback";
    }
  /** List the scale set's instances to notice ones that appeared (scale-out, repair). */
  | { kind: "observeScaleSet"; scaleSetId: string; knownInstanceIds: string[] }
  /** Evaluate the spec's gates on these instances. `attempt` counts inconclusive retries. */
  | {
      kind: "evaluateGates";
      scaleSetId: string;
      instanceIds: string[];
      gates: GateSpec[];
      maxUnhealthyPercent: number;
      /** ISO time the batch finished upgrading: metric windows start no earlier. */
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
  /** A delayed job that answers with `timer.fired`. */
  | { kind: "startTimer"; timer: TimerKind; scaleSetId?: string; delaySeconds: number }
  /** Put the model back to exactly the recorded previous reference. */
  | { kind: "revertModel"; scaleSetId: string; previous: ImageReference; target: ImageReference };

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
    })
  | (Outcome & { type: "preflight.refused"; findings: PreflightFinding[] })
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
  /** The engine gave up on an effect after retries with backoff. */
  | (Outcome & { type: "effect.failed"; reason: string });

export interface Actor {
  /** Who acted: a token's name, `system`, or `anonymous` when auth is off. */
  id: string;
  role?: string;
}

export type UserEvent = {
  type: "pause" | "resume" | "approve" | "abort" | "rollback";
  actor: Actor;
  reason?: string;
  at: string;
};

export type RolloutEvent = OutcomeEvent | UserEvent;
