/**
 * The compare gate's judge (pure): the canary's samples against the baseline's, as Kayenta's
 * NetflixACAJudge classifies one metric. Pool each side's per-minute samples; "no data" or too
 * few points for the asked confidence is inconclusive, never a pass; otherwise a Mann-Whitney
 * interval on the shift (canary − baseline) and its Hodges-Lehmann estimate. The gate fails when
 * the interval excludes zero in the watched direction AND the estimate is beyond
 * tolerancePercent of the baseline's median (significant and large enough to matter).
 * With neighbours as the baseline, each canary instance's samples are first corrected by its own
 * level against them before its upgrade (`levelOffsets`, see fetch.ts), when that is known.
 * A final evaluation with less than the required coverage is inconclusive unless it failed.
 * The evidence carries every number the verdict used, so a person can redo it.
 */
import type { GateJudgement } from "../../domain/effects.ts";
import { mannWhitney, median } from "./mann-whitney.ts";
import type { CompareGateSpec } from "./schema.ts";

export interface CompareSample {
  instanceId: string;
  vmName: string;
  values: number[];
}

/** A canary instance's own level against its neighbours before its upgrade (see fetch.ts). */
export interface LevelOffset {
  instanceId: string;
  window: { start: string; end: string };
  /** Its minutes and the neighbours' minutes in the window. */
  points: number;
  baselinePoints: number;
  /** Hodges-Lehmann shift of its minutes against theirs; absent with too few points (not corrected). */
  offset?: number;
}

export interface CompareInput {
  spec: CompareGateSpec;
  /** The instances on the new image, each with its per-minute samples in the window. */
  canary: CompareSample[];
  /** Baseline instances (or the canary instances before their upgrade), same aggregation. */
  baseline: CompareSample[];
  /** `instances`: neighbours on the previous image, same minutes; `beforeUpgrade`: own history. */
  baselineKind: "instances" | "beforeUpgrade";
  window: { start: string; end: string };
  baselineWindow: { start: string; end: string };
  /** Subtracted from each canary instance's samples before the test (neighbour baselines only). */
  levelOffsets?: LevelOffset[];
  /** A verdict that may end a bake: needs `coverage.requiredSeconds` of data. */
  final?: boolean;
  coverage?: { seconds: number; requiredSeconds: number };
  errors?: string[];
  measuredAt: string;
}

const round = (value: number) => Math.round(value * 1000) / 1000;

function describeSamples(samples: CompareSample[]) {
  return samples.map((sample) => ({
    instanceId: sample.instanceId,
    vmName: sample.vmName,
    points: sample.values.length,
    ...(sample.values.length > 0
      ? {
          median: round(median(sample.values)),
          mean: round(sample.values.reduce((sum, v) => sum + v, 0) / sample.values.length),
        }
      : {}),
  }));
}

export function judgeCompare(input: CompareInput): GateJudgement {
  const { spec } = input;
  const offsetOf = new Map(
    (input.levelOffsets ?? []).flatMap((level) =>
      level.offset === undefined ? [] : [[level.instanceId, level.offset] as const],
    ),
  );
  const canary = input.canary.flatMap((sample) => {
    const offset = offsetOf.get(sample.instanceId) ?? 0;
    return sample.values.map((value) => value - offset);
  });
  const baseline = input.baseline.flatMap((sample) => sample.values);
  const label = `${spec.aggregation} ${spec.metric}`;
  const evidence: Record<string, unknown> = {
    metric: spec.metric,
    namespace: spec.namespace,
    aggregation: spec.aggregation,
    direction: spec.direction,
    tolerancePercent: spec.tolerancePercent,
    confidence: spec.confidence,
    baselineKind: input.baselineKind,
    window: input.window,
    baselineWindow: input.baselineWindow,
    canary: {
      points: canary.length,
      ...(offsetOf.size > 0 ? { correctedForOwnLevel: true } : {}),
      ...(canary.length ? { median: round(median(canary)) } : {}),
      instances: describeSamples(input.canary),
    },
    baseline: {
      points: baseline.length,
      ...(baseline.length ? { median: round(median(baseline)) } : {}),
      instances: describeSamples(input.baseline),
    },
    ...(input.levelOffsets
      ? {
          levelCorrection: input.levelOffsets.map((level) => ({
            ...level,
            ...(level.offset === undefined ? {} : { offset: round(level.offset) }),
          })),
        }
      : {}),
    ...(input.coverage ? { coverage: input.coverage } : {}),
    final: input.final ?? false,
    errors: input.errors ?? [],
  };
  const base = {
    gate: "compare" as const,
    measuredAt: input.measuredAt,
    instanceIds: input.canary.map((sample) => sample.instanceId),
    evidence,
  };
  const inconclusive = (reason: string): GateJudgement => {
    evidence.reason = reason;
    return { ...base, verdict: "inconclusive", summary: `${label} vs baseline: ${reason}` };
  };
  if (canary.length === 0 || baseline.length === 0) {
    const side = canary.length === 0 ? (baseline.length === 0 ? "canary or baseline" : "canary") : "baseline";
    const why = input.errors?.length ? ` (${input.errors.join("; ")})` : "";
    return inconclusive(`no data for the ${side}${why}`);
  }
  const test = mannWhitney(canary, baseline, spec.confidence);
  const baselineMedian = median(baseline);
  const toleranceAbsolute = (Math.abs(baselineMedian) * spec.tolerancePercent) / 100;
  const effectPercent = baselineMedian === 0 ? undefined : (test.estimate / Math.abs(baselineMedian)) * 100;
  evidence.test = {
    method: `Mann-Whitney U (${test.method})`,
    u: test.u,
    pValue: round(test.pValue),
    interval: { lower: round(test.lower), upper: round(test.upper), confidence: spec.confidence },
    estimate: round(test.estimate),
    ...(effectPercent === undefined ? {} : { effectPercent: round(effectPercent) }),
    toleranceAbsolute: round(toleranceAbsolute),
  };
  if (!test.reachable) {
    return inconclusive(
      `not enough data: ${canary.length} canary and ${baseline.length} baseline points cannot reach confidence ${spec.confidence}`,
    );
  }
  const corrected = [...offsetOf.values()];
  const correction = corrected.length
    ? `, canary corrected for its own level before the upgrade (${corrected.map((o) => signed(o)).join(", ")})`
    : "";
  const shift = `shift ${signed(test.estimate)} (${effectPercent === undefined ? "baseline median 0" : `${signed(effectPercent, 1)} %`}), ${Math.round(spec.confidence * 100)} % interval [${round(test.lower)}, ${round(test.upper)}], baseline median ${round(baselineMedian)}${correction}`;
  const higher = test.lower > 0 && test.estimate > toleranceAbsolute;
  const lower = test.upper < 0 && test.estimate < -toleranceAbsolute;
  const watchesUp = spec.direction === "increase" || spec.direction === "either";
  const watchesDown = spec.direction === "decrease" || spec.direction === "either";
  if ((higher && watchesUp) || (lower && watchesDown)) {
    const reason = `canary ${higher ? "higher" : "lower"} than the ${input.baselineKind === "instances" ? "baseline instances" : "same instances before the upgrade"} beyond the ${spec.tolerancePercent} % tolerance: ${shift}`;
    evidence.reason = reason;
    return { ...base, verdict: "failed", summary: `${label}: ${reason}` };
  }
  const why =
    higher || lower
      ? `a ${higher ? "rise" : "drop"} beyond tolerance, but direction is ${spec.direction}`
      : test.lower > 0 || test.upper < 0
        ? `significant but within the ${spec.tolerancePercent} % tolerance`
        : "no significant shift";
  const coverage = input.coverage;
  if (input.final && coverage && coverage.seconds < coverage.requiredSeconds) {
    return inconclusive(
      `not enough data yet (${coverage.seconds} of ${coverage.requiredSeconds} s); so far ${why}: ${shift}`,
    );
  }
  evidence.reason = `${why}: ${shift}`;
  return { ...base, verdict: "passed", summary: `${label} vs baseline: ${why}: ${shift}` };
}

/**
 * Judges each look (see compareLooks) and answers with the first failed one, else the first (the
 * window since the upgrade); the other looks' verdicts and reasons are in `evidence.looks`.
 */
export function judgeCompareLooks(
  looks: Omit<CompareInput, "spec" | "measuredAt" | "final" | "coverage" | "errors">[],
  common: Pick<CompareInput, "spec" | "measuredAt" | "final" | "coverage" | "errors">,
): GateJudgement {
  const judged = looks.map((look) => judgeCompare({ ...look, ...common }));
  const chosen = judged.find((result) => result.verdict === "failed") ?? judged[0];
  if (!chosen) throw new RangeError("judgeCompareLooks needs at least one look");
  if (judged.length > 1) {
    chosen.evidence.looks = judged.map((result, i) => ({
      window: looks[i]?.window,
      verdict: result.verdict,
      reason: result.evidence.reason,
    }));
  }
  return chosen;
}

function signed(value: number, digits = 3): string {
  const factor = 10 ** digits;
  const rounded = Math.round(value * factor) / factor;
  return rounded > 0 ? `+${rounded}` : String(rounded);
}
