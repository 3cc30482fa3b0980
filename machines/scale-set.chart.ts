/**
 * The statechart of one scale set, as a typed table: for every state, what it waits for, the
 * phase people see, and for each outcome it accepts the action that runs and the states that
 * action may move it to. Two regions: this runbook (rollout, then rollback) and, orthogonal to
 * it, the analysis region (analysis.ts), which receives the outcomes of gate evaluations and
 * analysis timers while it is on.
 *
 * The table is the truth in both directions: `applyScaleSetOutcome` refuses an outcome the state
 * does not list, and refuses a move to a state the transition does not declare (both are bugs,
 * thrown as RolloutInvariantError and found by the model-checking explorer). The drawing in
 * docs/ARCHITECTURE.md is generated from it (`npm run docs:chart`), and a test keeps it current.
 *
 * `signals` are what the rollout machine does to a scale set outside outcomes (start it, resume,
 * approve, an analysis verdict, rollback); they are listed for the drawing.
 */
import type { Effect, OutcomeEvent, OutcomeType } from "../src/domain/effects.ts";
import type { ScaleSetPhase } from "../src/domain/rollout-view.ts";
import { applyAnalysisOutcome, isAnalysisOutcome } from "./analysis.ts";
import type { RolloutContext, ScaleSetProgress, ScaleSetState } from "./context.ts";
import { RolloutInvariantError } from "./errors.ts";
import {
  onInFlightDone,
  onInspected,
  onReverted,
  onRollbackConflict,
  onRollbackEffectFailed,
  onRollbackHealth,
  onRollbackTimer,
  onRollbackUpgraded,
  onRollbackUpgradeFailed,
} from "./rollback-runbook.ts";
import {
  onModelUpdated,
  onObserved,
  onRolloutConflict,
  onRolloutEffectFailed,
  onRolloutTimer,
  onUpgraded,
  onUpgradedWhileHeld,
  onUpgradeFailed,
  runbookListener,
} from "./scale-set-runbook.ts";

type Handler<T extends OutcomeType> = (
  ctx: RolloutContext,
  ss: ScaleSetProgress,
  event: Extract<OutcomeEvent, { type: T }>,
  effect: Effect,
) => void;

export interface ChartTransition<T extends OutcomeType> {
  /** States the action may move the scale set to (staying is always allowed). */
  to: readonly ScaleSetState[];
  do: Handler<T>;
}

export type Signal = "start" | "resume" | "approve" | "verdict" | "gatesFailed" | "rollback";

export interface ChartState {
  phase: ScaleSetPhase | ((ss: ScaleSetProgress) => ScaleSetPhase);
  waitsFor: string;
  on: { [T in OutcomeType]?: ChartTransition<T> };
  signals?: Partial<Record<Signal, readonly ScaleSetState[]>>;
}

const batchPhase = (ss: ScaleSetProgress): ScaleSetPhase =>
  ss.batches[ss.currentBatch]?.kind === "canary" ? "canary" : "promoting";

/** After a batch's or the bake's verdict, the runbook's next step. */
const afterVerdict = ["baking", "awaitingApproval", "observing", "betweenBatches", "held"] as const;

/** A failure on the rollout path asks for a rollback: the rollout machine moves the scale set. */
const stays = [] as const;

const rollbackFailure = ["rollbackRetryWait", "rollbackFailed"] as const;

export const scaleSetChart = {
  waiting: {
    phase: "waiting",
    waitsFor: "its turn: the wave starts it while fewer than the parallel cap of its scale sets move",
    on: {},
    signals: { start: ["settingModel", "held"], rollback: ["untouched"] },
  },
  held: {
    phase: (ss) => (ss.resumeWith?.next === "writeModel" ? "waiting" : batchPhase(ss)),
    waitsFor: "resume: a pause caught it before its next change",
    on: {},
    signals: { resume: ["settingModel", "upgrading", "observing"], rollback: ["reverting", "untouched"] },
  },
  settingModel: {
    phase: "updatingModel",
    waitsFor: "setModelImage: the model write (read first, never over someone else's)",
    on: {
      "model.updated": { to: ["upgrading", "held", "observing"], do: onModelUpdated },
      "model.conflict": { to: stays, do: onRolloutConflict },
      "effect.failed": { to: stays, do: onRolloutEffectFailed },
    },
    signals: { rollback: ["rollbackWaitingInFlight"] },
  },
  upgrading: {
    phase: batchPhase,
    waitsFor: "upgradeInstances: the batch's manual upgrade, the model read before every call",
    on: {
      "instances.upgraded": { to: ["verifyingBatch"], do: onUpgraded },
      "instances.upgradeFailed": { to: stays, do: onUpgradeFailed },
      "model.conflict": { to: stays, do: onRolloutConflict },
      "effect.failed": { to: stays, do: onRolloutEffectFailed },
    },
    signals: { gatesFailed: ["gateHeld"], rollback: ["rollbackWaitingInFlight"] },
  },
  verifyingBatch: {
    phase: batchPhase,
    waitsFor: "a passing verdict of the analysis, from an evaluation issued after the batch came back",
    on: {},
    signals: { verdict: afterVerdict, gatesFailed: ["gateHeld"], rollback: ["reverting"] },
  },
  baking: {
    phase: "baking",
    waitsFor: "the bake timer; the analysis evaluates every interval meanwhile",
    on: { "timer.fired": { to: ["verifyingBake"], do: onRolloutTimer } },
    signals: { gatesFailed: ["gateHeld"], rollback: ["reverting"] },
  },
  verifyingBake: {
    phase: "baking",
    waitsFor: "a passing verdict from an evaluation issued after the bake ended (metric windows covered)",
    on: {},
    signals: {
      verdict: ["awaitingApproval", "observing", "held"],
      gatesFailed: ["gateHeld"],
      rollback: ["reverting"],
    },
  },
  awaitingApproval: {
    phase: "awaitingApproval",
    waitsFor: "approve (the approval timeout rolls back); the analysis keeps watching",
    on: {},
    signals: { approve: ["observing", "held"], gatesFailed: ["gateHeld"], rollback: ["reverting"] },
  },
  betweenBatches: {
    phase: "promoting",
    waitsFor: "the pause between batches; the analysis keeps watching",
    on: { "timer.fired": { to: ["observing", "held"], do: onRolloutTimer } },
    signals: { gatesFailed: ["gateHeld"], rollback: ["reverting"] },
  },
  observing: {
    phase: "promoting",
    waitsFor: "observeScaleSet: instances that appeared since the last look (scale-out, repair)",
    on: {
      "scaleSet.observed": { to: ["upgrading", "held", "verifyingBatch", "completed"], do: onObserved },
      "model.conflict": { to: stays, do: onRolloutConflict },
      "effect.failed": { to: stays, do: onRolloutEffectFailed },
    },
    signals: { rollback: ["reverting"] },
  },
  gateHeld: {
    phase: batchPhase,
    waitsFor:
      "resume (the gates are evaluated again) or rollback: a gate failed with automatic rollback off, or stayed inconclusive with onInconclusive pause",
    on: {
      "instances.upgraded": { to: stays, do: onUpgradedWhileHeld },
      "instances.upgradeFailed": { to: stays, do: onUpgradeFailed },
      "model.conflict": { to: stays, do: onRolloutConflict },
      "effect.failed": { to: stays, do: onRolloutEffectFailed },
    },
    signals: {
      resume: ["upgrading", "verifyingBatch", "verifyingBake"],
      rollback: ["rollbackWaitingInFlight", "reverting"],
    },
  },
  completed: {
    phase: "completed",
    waitsFor: "nothing; a later rollback reverts it",
    on: {},
    signals: { rollback: ["reverting"] },
  },
  rollbackWaitingInFlight: {
    phase: "rollingBack",
    waitsFor: "the model write or upgrade of ours still in flight",
    on: {
      "model.updated": { to: ["reverting"], do: onInFlightDone },
      "model.conflict": { to: ["reverting", "untouched"], do: onInFlightDone },
      "instances.upgraded": { to: ["reverting"], do: onInFlightDone },
      "instances.upgradeFailed": { to: ["reverting"], do: onInFlightDone },
      "effect.failed": { to: ["reverting"], do: onInFlightDone },
    },
  },
  reverting: {
    phase: "rollingBack",
    waitsFor: "revertModel: the model back to exactly the recorded previous image (read first)",
    on: {
      "model.reverted": { to: ["inspecting"], do: onReverted },
      "model.conflict": { to: ["rollbackFailed"], do: onRollbackConflict },
      "effect.failed": { to: rollbackFailure, do: onRollbackEffectFailed },
    },
  },
  inspecting: {
    phase: "rollingBack",
    waitsFor: "inspectScaleSet: the model and every instance that exists now",
    on: {
      "scaleSet.inspected": {
        to: ["rolledBack", "rollbackUpgrading", "reverting", "rollbackFailed"],
        do: onInspected,
      },
      "effect.failed": { to: rollbackFailure, do: onRollbackEffectFailed },
    },
  },
  rollbackUpgrading: {
    phase: "rollingBack",
    waitsFor: "upgradeInstances: instances not on the previous image, at most rollback.batchPercent at once",
    on: {
      "instances.upgraded": { to: ["rollbackVerifying"], do: onRollbackUpgraded },
      "instances.upgradeFailed": { to: rollbackFailure, do: onRollbackUpgradeFailed },
      "model.conflict": { to: ["rollbackFailed"], do: onRollbackConflict },
      "effect.failed": { to: rollbackFailure, do: onRollbackEffectFailed },
    },
  },
  rollbackVerifying: {
    phase: "rollingBack",
    waitsFor: "instance health of the batch taken back",
    on: {
      "gates.evaluated": { to: ["inspecting", "rollbackGateRetry", "rollbackFailed"], do: onRollbackHealth },
      "effect.failed": { to: rollbackFailure, do: onRollbackEffectFailed },
    },
  },
  rollbackGateRetry: {
    phase: "rollingBack",
    waitsFor: "the wait before instance health is evaluated again",
    on: { "timer.fired": { to: ["rollbackVerifying"], do: onRollbackTimer } },
  },
  rollbackRetryWait: {
    phase: "rollingBack",
    waitsFor: "the backoff after a transient failure; then the loop starts again from the top",
    on: { "timer.fired": { to: ["reverting"], do: onRollbackTimer } },
  },
  rolledBack: {
    phase: "rolledBack",
    waitsFor: "nothing: model and every instance on the previous image",
    on: {},
  },
  rollbackFailed: {
    phase: "failed",
    waitsFor: "on-call: rollback (the loop resumes) or release (hand the scale set back as it is)",
    on: {},
    signals: { rollback: ["reverting"] },
  },
  untouched: {
    phase: "waiting",
    waitsFor: "nothing: no change of canaryd's reached it",
    on: {},
  },
} satisfies Record<ScaleSetState, ChartState> as Record<ScaleSetState, ChartState>;

export function scaleSetPhase(ss: ScaleSetProgress): ScaleSetPhase {
  const { phase } = scaleSetChart[ss.state];
  return typeof phase === "function" ? phase(ss) : phase;
}

/** Runs the outcome of an effect of this scale set through its chart (or its analysis region). */
export function applyScaleSetOutcome(
  ctx: RolloutContext,
  ss: ScaleSetProgress,
  effect: Effect,
  event: OutcomeEvent,
): void {
  if (ss.analysis.status !== "off" && isAnalysisOutcome(effect)) {
    applyAnalysisOutcome(ctx, ss, effect, event, runbookListener);
    return;
  }
  const before = ss.state;
  const transition = scaleSetChart[before].on[event.type] as ChartTransition<OutcomeType> | undefined;
  if (!transition) {
    throw new RolloutInvariantError(
      `${ss.id} is ${before} and got ${event.type} (for ${effect.kind}): the chart has no such transition`,
    );
  }
  transition.do(ctx, ss, event as never, effect);
  if (ss.state !== before && !transition.to.includes(ss.state)) {
    throw new RolloutInvariantError(
      `${ss.id}: ${event.type} moved it from ${before} to ${ss.state}, which the chart does not declare`,
    );
  }
}
