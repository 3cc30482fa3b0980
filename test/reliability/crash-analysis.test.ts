/**
 * kill -9 inside continuous analysis (machines/analysis.ts): gates are evaluated every
 * `strategy.analysis.intervalSeconds` (timer `analysis`) from the canary's return until the scale
 * set completes, and the bake ends on a fresh verdict (an evaluation marked `final`). Each case
 * stops the world at one evaluation's metrics read (a hold fault on `metrics.queryResources`), proves
 * from the rollout's outbox in Redis which evaluation that is, kills the only daemon, and starts a
 * fresh one, which must end the rollout as an uninterrupted run would: `completed` for a good
 * version, `rolledBack` for 1.6.0 (fine for two simulated minutes after an instance takes it, then
 * CPU ~95 %: only an analysis that goes on looking catches it).
 *
 * One lab, web-a only, metrics without ingestion delay so an onset shows within simulated minutes;
 * each case starts from the version the previous one left.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Effect } from "../../src/domain/effects.ts";
import type { RolloutPhase } from "../../src/domain/rollout-view.ts";
import type { OutboxEntry } from "../../src/engine/core/outbox.ts";
import { demoSpec, expectEndedLikeAnUninterruptedRun } from "../support/crash-expectations.ts";
import { type CrashLab, scaleSetId, startCrashLab } from "../support/crash-lab.ts";
import type { DaemonProcess } from "../support/daemon-process.ts";
import { ResultsRecorder } from "../support/reliability-rows.ts";

const metricsRead = "metrics.queryResources";
const timeScale = 30;
/** 1.6.0's CPU rises 120 simulated s after an instance takes it; a complete minute shows it 30-90 s later. */
const onsetVisibleSeconds = 150;

type Evaluation = Extract<Effect, { kind: "evaluateGates" }>;

const results = new ResultsRecorder("crash-analysis");
let lab: CrashLab;
let daemon: { daemon: DaemonProcess; url: string };
let fleetVersion = "1.0.0";

beforeAll(async () => {
  lab = await startCrashLab({ timeScale, label: "crash-analysis", metricsIngestionDelaySeconds: 0 });
  daemon = await lab.startDaemon();
}, 60_000);
afterAll(async () => {
  results.write();
  await lab?.close();
}, 60_000);

/**
 * web-a alone (the canary, then the rest in one batch), instance health, boot diagnostics and a CPU
 * threshold, analysed every `intervalSeconds`.
 */
function analysedSpec(version: string, bakeSeconds: number, intervalSeconds: number) {
  const spec = demoSpec(version, ["web-a"], [], bakeSeconds);
  return {
    ...spec,
    strategy: { ...spec.strategy, batchPercent: 100, analysis: { intervalSeconds } },
    gates: [
      ...spec.gates,
      { kind: "metric", metric: "Percentage CPU", aggregation: "Maximum", windowSeconds: 300, max: 80 },
    ],
  };
}

const timers = (entries: OutboxEntry[]) =>
  entries.flatMap((e) => (e.effect.kind === "startTimer" ? [e.effect.timer] : []));

/**
 * Holds the gate evaluations' metrics reads one at a time until the pending evaluation is the one
 * `wanted` names; answers it with the outbox then, the read still held.
 */
async function holdEvaluation(
  id: string,
  wanted: (evaluation: Evaluation, outbox: OutboxEntry[]) => boolean,
): Promise<{ hold: { id: string }; evaluation: Evaluation; outbox: OutboxEntry[]; passedOver: number }> {
  let hold = lab.sim.addFault({ kind: "hold", operation: metricsRead, count: 1 });
  for (let passedOver = 0; passedOver < 400; passedOver++) {
    await lab.waitForHeld(metricsRead, 60_000);
    const outbox = await lab.outbox(id);
    const evaluation = outbox.find((e) => e.effect.kind === "evaluateGates")?.effect as
      | Evaluation
      | undefined;
    if (evaluation && wanted(evaluation, outbox)) return { hold, evaluation, outbox, passedOver };
    const next = lab.sim.addFault({ kind: "hold", operation: metricsRead, count: 1 });
    lab.sim.release(hold.id);
    hold = next;
  }
  throw new Error("the wanted evaluation never came");
}

/** An evaluation the `analysis` timer started: no verdict asked for, inside the bake. */
const intervalEvaluation = (evaluation: Evaluation, outbox: OutboxEntry[]) =>
  evaluation.purpose === "analysis" &&
  evaluation.attempt === 0 &&
  evaluation.final !== true &&
  timers(outbox).includes("bake") &&
  !timers(outbox).includes("analysis");

/** The evaluation the end of the bake asks for: its verdict may end the bake. */
const bakeEndVerdict = (evaluation: Evaluation, outbox: OutboxEntry[]) =>
  evaluation.final === true && !timers(outbox).includes("bake");

/** Simulated seconds since the instance took its current version. */
function simulatedAge(instanceId: string): number {
  const from = lab.sim.versionHistory(scaleSetId("web-a"), instanceId)?.at(-1)?.from;
  return from ? ((Date.now() - Date.parse(from)) * timeScale) / 1000 : 0;
}

interface AnalysisCase {
  name: string;
  bad: boolean;
  bakeSeconds: number;
  intervalSeconds: number;
  /** Which held evaluation to kill in. */
  killIn: (evaluation: Evaluation, outbox: OutboxEntry[]) => boolean;
  point: string;
}

let intervalEvaluationsSeen = 0;
const cases: AnalysisCase[] = [
  {
    name: "between an analysis timer firing and its evaluation's commit, good version",
    bad: false,
    bakeSeconds: 90,
    intervalSeconds: 10,
    // The second evaluation of the bake: the analysis has been running a while.
    killIn: (evaluation, outbox) => intervalEvaluation(evaluation, outbox) && ++intervalEvaluationsSeen >= 2,
    point: "the analysis timer fired, its evaluation unanswered, mid-bake",
  },
  {
    name: "between an analysis timer firing and its evaluation's commit, 1.6.0 as its CPU rises",
    bad: true,
    bakeSeconds: 1200,
    intervalSeconds: 10,
    killIn: (evaluation, outbox) =>
      intervalEvaluation(evaluation, outbox) &&
      simulatedAge(evaluation.instanceIds[0] ?? "") >= onsetVisibleSeconds,
    point: `the analysis timer fired, its evaluation unanswered, the canary ${onsetVisibleSeconds}+ simulated s on 1.6.0`,
  },
  {
    name: "while the bake-end verdict is awaited, good version",
    bad: false,
    bakeSeconds: 30,
    intervalSeconds: 600,
    killIn: bakeEndVerdict,
    point: "the bake timer fired, the final verdict unanswered",
  },
  {
    name: "while the bake-end verdict is awaited, 1.6.0",
    bad: true,
    bakeSeconds: 200,
    intervalSeconds: 600,
    killIn: bakeEndVerdict,
    point: "the bake timer fired, the final verdict unanswered",
  },
];

describe("canaryd killed with -9 inside an analysis interval, then restarted", () => {
  for (const analysisCase of cases) {
    it(
      `${analysisCase.name}: ends as an uninterrupted run would`,
      () =>
        results.trial(`kill -9 ${analysisCase.name} (web-a)`, 1, async () => {
          const version = analysisCase.bad ? "1.6.0" : fleetVersion === "1.0.0" ? "1.1.0" : "1.0.0";
          const startedMs = Date.now();
          const view = await lab.startRollout(
            daemon.url,
            analysedSpec(version, analysisCase.bakeSeconds, analysisCase.intervalSeconds),
          );
          const { hold, evaluation, passedOver } = await holdEvaluation(view.id, analysisCase.killIn);
          const atKill = await lab.get(daemon.url, view.id);
          expect(["canary", "baking"] as RolloutPhase[]).toContain(atKill.phase);
          // No gate has failed yet: the decision is the next daemon's to make.
          expect(atKill.timeline.filter((e) => e.type === "rollback.started")).toEqual([]);
          const age = Math.round(simulatedAge(evaluation.instanceIds[0] ?? ""));

          await daemon.daemon.stop("SIGKILL");
          lab.sim.release(hold.id);
          lab.sim.clearFaults();
          daemon = await lab.startDaemon();

          const done = await lab.waitForTerminal(daemon.url, view.id, 90_000);
          const outcome = await expectEndedLikeAnUninterruptedRun(
            lab,
            done,
            { phase: analysisCase.bad ? "rolledBack" : "completed", target: version, previous: fleetVersion },
            startedMs,
          );
          if (analysisCase.bad) {
            // Caught by a metric the analysis read after the restart, not by a canary gate.
            const failed = done.timeline.find(
              (e) => e.type === "gates.evaluated" && (e.data?.verdict as string) === "failed",
            );
            expect(failed?.message).toMatch(/Percentage CPU/);
          } else fleetVersion = version;
          return {
            outcome: `killed in ${atKill.phase}: ${analysisCase.point} (canary ${age} simulated s on ${version}, ${passedOver} earlier evaluation(s) let through); ${outcome}`,
          };
        }),
      150_000,
    );
  }
});
