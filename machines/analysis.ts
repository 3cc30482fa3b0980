/**
 * Continuous analysis: the region of a scale set's statechart that watches while its runbook
 * moves. From the moment the canary batch is back until the scale set completes (bake, approval
 * wait, pauses between batches, promotion batches) every gate of the spec is evaluated every
 * `strategy.analysis.intervalSeconds` on every instance that runs the new image so far.
 *
 *   off --canary back--> evaluating --answer--> waiting --interval--> evaluating ...
 *
 * - A gate that failed more than `strategy.analysis.failureLimit` evaluations fails the batch
 *   (rollback, or a gate hold when `rollback.automatic` is off).
 * - The runbook asks for a verdict when a batch is back and when the bake ends (`wantVerdict`):
 *   the timer in flight is dropped and an evaluation starts now; one already in flight was issued
 *   before the question, so it cannot answer it and another follows it at once. A bake therefore
 *   never ends on a verdict older than one interval: it ends on one issued after it.
 * - A verdict the runbook waits for that answers inconclusive (or failed within the limit) is
 *   asked again after `gateRetrySeconds`, up to `inconclusiveTimeoutSeconds`; then the gates'
 *   `onInconclusive` decide (any `fail` wins over `pause`). While only watching, inconclusive
 *   answers for `inconclusiveTimeoutSeconds` in a row decide the same way.
 * - Runs of identical answers collapse: the first pass while watching (or the first inconclusive
 *   answer) of a run is a timeline line, the rest only count, and the run is summarised in one
 *   line (verdict, count and time span) when it ends. A pass that answers a verdict the runbook
 *   waits for, and every failure, always have their own line.
 *
 * Reads never change the fleet, so analysis goes on while the rollout is paused.
 */
import type { Effect, GateResult, OutcomeEvent } from "../src/domain/effects.ts";
import { gateName } from "../src/domain/spec.ts";
import {
  batchLabel,
  cancelPending,
  emitEffect,
  note,
  type RolloutContext,
  retainedResult,
  type ScaleSetProgress,
} from "./context.ts";

type GatesEvaluated = Extract<OutcomeEvent, { type: "gates.evaluated" }>;

/** What the runbook does with the analysis's conclusions (scale-set-runbook.ts implements it). */
export interface AnalysisListener {
  verdictPassed(ctx: RolloutContext, ss: ScaleSetProgress): void;
  gatesFailed(ctx: RolloutContext, ss: ScaleSetProgress, why: string, platform: boolean): void;
  inconclusive(ctx: RolloutContext, ss: ScaleSetProgress, why: string, pause: boolean): void;
}

export function newAnalysis(): ScaleSetProgress["analysis"] {
  return { status: "off", failures: {}, inconclusiveRounds: 0 };
}

function resultName(result: GateResult): string {
  return result.name ?? result.gate;
}

export function intervalSeconds(ctx: RolloutContext): number {
  return ctx.spec.strategy.analysis.intervalSeconds;
}

/** Evaluations a verdict gets while answering inconclusive (the first one included). */
export function maxGateAttempts(ctx: RolloutContext): number {
  const { inconclusiveTimeoutSeconds, gateRetrySeconds } = ctx.settings;
  return Math.max(1, Math.floor(inconclusiveTimeoutSeconds / Math.max(1, gateRetrySeconds)));
}

const isAnalysisEffect = (ss: ScaleSetProgress) => (e: Effect) =>
  "scaleSetId" in e &&
  e.scaleSetId === ss.id &&
  ((e.kind === "evaluateGates" && e.purpose !== "rollback") ||
    (e.kind === "startTimer" && (e.timer === "analysis" || e.timer === "gateRetry")));

/** Outcomes of these effects belong to the analysis region, not to the runbook. */
export function isAnalysisOutcome(effect: Effect): boolean {
  return (
    (effect.kind === "evaluateGates" && effect.purpose !== "rollback") ||
    (effect.kind === "startTimer" && (effect.timer === "analysis" || effect.timer === "gateRetry"))
  );
}

/** Instances on the new image that came back: what every evaluation looks at. */
function evaluatedInstances(ss: ScaleSetProgress): string[] {
  return Object.keys(ss.upgradedAt);
}

function evaluate(ctx: RolloutContext, ss: ScaleSetProgress): void {
  const a = ss.analysis;
  a.status = "evaluating";
  if (a.want) {
    a.want.answered = true;
    ss.gateAttempt += 1;
  }
  const onTarget = new Set(evaluatedInstances(ss));
  emitEffect(ctx, {
    kind: "evaluateGates",
    scaleSetId: ss.id,
    purpose: "analysis",
    instanceIds: [...onTarget],
    gates: ctx.spec.gates,
    maxUnhealthyPercent: ctx.spec.strategy.maxUnhealthyPercent,
    since: a.since ?? "",
    attempt: a.want ? ss.gateAttempt : 0,
    ...(a.want?.final ? { final: true } : {}),
    requiredCoverageSeconds: ctx.spec.strategy.bakeSeconds,
    baselineInstanceIds: ss.knownInstanceIds.filter(
      (id) =>
        !onTarget.has(id) && !ss.touchedInstanceIds.includes(id) && !ss.protectedInstanceIds.includes(id),
    ),
    upgradedAt: { ...ss.upgradedAt },
  });
}

function schedule(ctx: RolloutContext, ss: ScaleSetProgress, timer: "analysis" | "gateRetry"): void {
  ss.analysis.status = "waiting";
  emitEffect(ctx, {
    kind: "startTimer",
    timer,
    scaleSetId: ss.id,
    delaySeconds: timer === "analysis" ? intervalSeconds(ctx) : ctx.settings.gateRetrySeconds,
  });
}

/** The canary is back: analysis starts (idempotent: a later batch only asks for a verdict). */
export function startAnalysis(ctx: RolloutContext, ss: ScaleSetProgress, at: string): void {
  if (ss.analysis.status !== "off") return;
  ss.analysis.since ??= at;
  ss.analysis.failures = {};
  ss.analysis.inconclusiveRounds = 0;
  schedule(ctx, ss, "analysis");
}

/** The runbook waits for a fresh verdict: evaluate now (or right after the evaluation in flight). */
export function wantVerdict(ctx: RolloutContext, ss: ScaleSetProgress, final: boolean): void {
  const a = ss.analysis;
  a.want = { final, answered: false };
  ss.gateAttempt = 0;
  if (a.status === "evaluating") return;
  cancelPending(ctx, isAnalysisEffect(ss));
  evaluate(ctx, ss);
}

/** The scale set completed or is being rolled back: nothing more to watch. */
export function stopAnalysis(ctx: RolloutContext, ss: ScaleSetProgress): void {
  endStreak(ctx, ss);
  cancelPending(ctx, isAnalysisEffect(ss));
  ss.analysis.status = "off";
  ss.analysis.want = undefined;
}

function endStreak(ctx: RolloutContext, ss: ScaleSetProgress): void {
  const streak = ss.analysis.streak;
  ss.analysis.streak = undefined;
  if (!streak || streak.count < 2) return;
  const verdict = streak.verdict ?? "passed";
  note(
    ctx,
    verdict === "passed" ? "gates.passedRepeatedly" : "gates.inconclusiveRepeatedly",
    `${ss.id.split("/").pop()}: gates ${verdict} ${streak.count} evaluations in a row, ${streak.from} to ${streak.to}`,
    { scaleSetId: ss.id, verdict, count: streak.count, from: streak.from, to: streak.to },
  );
}

function record(ctx: RolloutContext, ss: ScaleSetProgress, event: GatesEvaluated): void {
  const batch = ss.batches[ss.currentBatch];
  if (batch) {
    for (const result of event.results) {
      const kept = retainedResult(result);
      // The latest pass (or inconclusive answer) of a gate replaces its previous one; every
      // failure is kept, so the snapshot does not grow with a long bake.
      const earlier =
        result.verdict === "failed"
          ? -1
          : batch.gateResults.findIndex(
              (r) => r.verdict === result.verdict && resultName(r) === resultName(result),
            );
      if (earlier >= 0) batch.gateResults[earlier] = kept;
      else batch.gateResults.push(kept);
    }
  }
  const a = ss.analysis;
  // A pass that answers a verdict the runbook waits for is a decision: always its own line.
  const decisive = a.want?.answered === true;
  const collapsible = event.verdict === "inconclusive" || (event.verdict === "passed" && !decisive);
  if (collapsible && a.streak && (a.streak.verdict ?? "passed") === event.verdict) {
    a.streak.count += 1;
    a.streak.to = event.at;
    return;
  }
  endStreak(ctx, ss);
  const summary = event.results.map((r) => `${resultName(r)} ${r.verdict}: ${r.summary}`).join("; ");
  note(
    ctx,
    "gates.evaluated",
    `${ss.id.split("/").pop()} analysis: gates ${event.verdict}${summary ? ` (${summary})` : ""}`,
    {
      scaleSetId: ss.id,
      batch: ss.currentBatch,
      attempt: ss.gateAttempt,
      verdict: event.verdict,
      results: event.results,
    },
  );
  if (collapsible && event.verdict !== "failed")
    a.streak = { verdict: event.verdict, count: 1, from: event.at, to: event.at };
}

/** The gates that could not answer decide: pause only if every one of them says pause. */
function inconclusiveDecision(
  ctx: RolloutContext,
  event: GatesEvaluated,
): { gates: string[]; pause: boolean } {
  const undecided = event.results.filter((r) => r.verdict === "inconclusive").map(resultName);
  const specs = ctx.spec.gates.filter((g) => undecided.includes(gateName(g)));
  return { gates: undecided, pause: specs.length > 0 && specs.every((g) => g.onInconclusive === "pause") };
}

export function applyAnalysisOutcome(
  ctx: RolloutContext,
  ss: ScaleSetProgress,
  effect: Effect,
  event: OutcomeEvent,
  runbook: AnalysisListener,
): void {
  const a = ss.analysis;
  if (event.type === "timer.fired") {
    evaluate(ctx, ss);
    return;
  }
  if (event.type === "effect.failed") {
    // A read that could not be done is no verdict: treat it as inconclusive.
    event = { ...event, type: "gates.evaluated", scaleSetId: ss.id, verdict: "inconclusive", results: [] };
  }
  if (event.type !== "gates.evaluated" || effect.kind !== "evaluateGates") return;
  record(ctx, ss, event);
  const batch = ss.batches[ss.currentBatch];
  const name = `${ss.id.split("/").pop()}${batch ? ` ${batchLabel(batch, ss.currentBatch)}` : ""}`;

  const limit = ctx.spec.strategy.analysis.failureLimit;
  const failedNow = event.results.filter((r) => r.verdict === "failed");
  for (const r of failedNow) a.failures[resultName(r)] = (a.failures[resultName(r)] ?? 0) + 1;
  const overLimit = failedNow.filter((r) => (a.failures[resultName(r)] ?? 0) > limit);
  if (overLimit.length > 0) {
    const platform = overLimit.some((r) => r.platformFailure);
    const gates = overLimit.map((r) => `${resultName(r)} (${r.summary})`).join(", ");
    stopAnalysis(ctx, ss);
    runbook.gatesFailed(
      ctx,
      ss,
      `${name}: ${platform ? "platform failure (not the image)" : "gate failed"}: ${gates}${
        limit > 0 ? ` — more than ${limit} failed evaluation(s)` : ""
      }`,
      platform,
    );
    return;
  }
  a.inconclusiveRounds = event.verdict === "inconclusive" ? a.inconclusiveRounds + 1 : 0;

  if (a.want && !a.want.answered) {
    // Issued before the runbook asked: it cannot answer; the one that can starts now.
    evaluate(ctx, ss);
    return;
  }
  if (a.want) {
    if (event.verdict === "passed") {
      a.want = undefined;
      ss.gateAttempt = 0;
      schedule(ctx, ss, "analysis");
      runbook.verdictPassed(ctx, ss);
      return;
    }
    if (event.verdict === "inconclusive" && ss.gateAttempt >= maxGateAttempts(ctx)) {
      const { gates, pause } = inconclusiveDecision(ctx, event);
      const why = `${name}: gates inconclusive for ${ctx.settings.inconclusiveTimeoutSeconds}s (${
        gates.join(", ") || "no answer"
      })`;
      stopAnalysis(ctx, ss);
      runbook.inconclusive(ctx, ss, why, pause);
      return;
    }
    schedule(ctx, ss, "gateRetry");
    return;
  }
  if (
    event.verdict === "inconclusive" &&
    a.inconclusiveRounds * intervalSeconds(ctx) >= ctx.settings.inconclusiveTimeoutSeconds
  ) {
    const { gates, pause } = inconclusiveDecision(ctx, event);
    stopAnalysis(ctx, ss);
    runbook.inconclusive(
      ctx,
      ss,
      `${name}: gates inconclusive for ${a.inconclusiveRounds} evaluations while watching (${gates.join(", ") || "no answer"})`,
      pause,
    );
    return;
  }
  schedule(ctx, ss, "analysis");
}
