/**
 * The compare gate's data: from the evaluation's one metrics answer, the canary instances'
 * per-minute samples since each came back, and the baseline's. Baseline: instances of the same
 * scale set still on the previous image over the same minutes; with fewer than two of them, the
 * canary instances' own samples from an equal window before their upgrade (before/after).
 * Pure: the call itself is made once for all gates (../metric-windows.ts).
 */
import type { MetricSeries } from "../../azure/metrics.ts";
import { pointsWithin, seriesFor } from "../metric/judge.ts";
import { dataEnd, type EvaluationWindows } from "../metric-windows.ts";
import type { CompareInput, CompareSample, LevelOffset } from "./judge.ts";
import { hodgesLehmann } from "./mann-whitney.ts";
import type { CompareGateSpec } from "./schema.ts";

/** The compare gate pools at most this much recent data (bounds the n·m pairwise differences). */
export const compareMaxWindowSeconds = 1800;
/**
 * The gate measures each canary instance's own level against its neighbours over this long
 * before its upgrade (`levelOffsets` below).
 */
export const ownLevelWindowSeconds = 1800;

/**
 * The earliest minute the gate reads: the before/after window (as long as the time since the
 * upgrade, capped) or the window that measures each instance's own level
 * (ownLevelWindowSeconds), whichever is longer, plus the two minutes left out around the reimage.
 */
export function compareEarliestRead(windows: EvaluationWindows): number {
  const earliestStart = Math.min(...windows.startOf.values());
  const span = Math.min(Math.max(0, windows.cutoff - earliestStart), compareMaxWindowSeconds * 1000);
  return earliestStart - Math.max(span, ownLevelWindowSeconds * 1000) - 2 * 60_000;
}

/** Seconds of data a final verdict needs (see the evaluateGates effect). */
export function compareRequiredCoverageSeconds(bakeSeconds: number | undefined): number {
  return Math.min(compareMaxWindowSeconds, bakeSeconds ?? 0);
}

export interface CompareDataInput {
  spec: CompareGateSpec;
  windows: EvaluationWindows;
  /** The batch so far (every instance on the new image), with VM names. */
  canary: { instanceId: string; name: string }[];
  /** Instances still on the previous image, with VM names (may be empty). */
  baseline: { instanceId: string; name: string }[];
  /** Series of this gate's metric and aggregation only. */
  series: MetricSeries[];
  /**
   * Correct each canary instance for its own level against the same neighbours before its
   * upgrade (default true; the benchmark turns it off to measure the difference).
   */
  correctOwnLevel?: boolean;
  /** The recent look's length (default recentWindowSeconds; the benchmark varies it). */
  recentWindowSeconds?: number;
}

/**
 * The window before an upgrade that measures a canary instance's own level against its
 * neighbours (ownLevelWindowSeconds): its last 30 minutes on the previous image, ending two
 * minutes before the minute it came back in (the reimage left out). Fewer than `minLevelPoints` minutes on either side (a new
 * instance, a gap in Monitor) and the instance is not corrected.
 */
export const minLevelPoints = 10;

/**
 * Each evaluation also judges the most recent minutes alone: a canary that turns bad late (a
 * leak, a job after warm-up) is diluted in the window since its upgrade but plain in its last
 * minutes. Both looks use the same test; the gate fails when either does (docs/analysis.md).
 * Four minutes: with each canary's own level corrected, the benchmark's trade-off between the
 * delay after an onset and false rollbacks (five: one interval slower; three: more false ones).
 */
export const recentWindowSeconds = 240;

/** The looks of one evaluation: since the upgrade, then (when longer) the recent minutes only. */
export function compareLooks(input: CompareDataInput): ReturnType<typeof compareData>[] {
  const full = compareData(input);
  const end = dataEnd(input.windows);
  const recentStart = end - (input.recentWindowSeconds ?? recentWindowSeconds) * 1000;
  const starts = [...input.windows.startOf.values()];
  if (starts.length === 0 || Math.min(...starts) >= recentStart) return [full];
  const startOf = new Map(
    [...input.windows.startOf].map(([id, start]) => [id, Math.max(start, recentStart)]),
  );
  if (full.baselineKind === "beforeUpgrade") return [full];
  // The baseline did not change: its whole window (more points) is the reference for both looks,
  // and each instance's level before its upgrade is the same.
  const recent = compareData({ ...input, windows: { ...input.windows, startOf }, correctOwnLevel: false });
  return [
    full,
    {
      ...recent,
      baseline: full.baseline,
      baselineWindow: full.baselineWindow,
      ...(full.levelOffsets ? { levelOffsets: full.levelOffsets } : {}),
    },
  ];
}

/** The fewest baseline instances that make a neighbour comparison; fewer means before/after. */
export const minBaselineInstances = 2;

export function compareData(
  input: CompareDataInput,
): Omit<CompareInput, "spec" | "measuredAt" | "final" | "coverage" | "errors"> {
  const { windows } = input;
  const end = dataEnd(windows);
  const floor = end - compareMaxWindowSeconds * 1000;
  const startOf = (id: string) => Math.max(windows.startOf.get(id) ?? end, floor);
  const canary: CompareSample[] = input.canary.map((instance) =>
    sample(input.series, instance, startOf(instance.instanceId), end),
  );
  const earliest = Math.min(end, ...input.canary.map((instance) => startOf(instance.instanceId)));
  const iso = (ms: number) => new Date(ms).toISOString();
  if (input.baseline.length >= minBaselineInstances) {
    return {
      canary,
      baseline: input.baseline.map((instance) => sample(input.series, instance, earliest, end)),
      baselineKind: "instances",
      window: { start: iso(earliest), end: iso(end) },
      baselineWindow: { start: iso(earliest), end: iso(end) },
      ...(input.correctOwnLevel === false ? {} : { levelOffsets: levelOffsets(input) }),
    };
  }
  // Before/after: each instance's own minutes before its upgrade, as many as it has after.
  let beforeStart = end;
  let beforeEnd = 0;
  const baseline = input.canary.map((instance) => {
    const upgraded = windows.startOf.get(instance.instanceId) ?? end;
    const span = Math.max(0, end - startOf(instance.instanceId));
    // The minute the instance came back in is already excluded (start is rounded up); the one
    // before it may hold the reimage: leave one more minute out.
    const stop = upgraded - 2 * 60_000;
    beforeStart = Math.min(beforeStart, stop - span);
    beforeEnd = Math.max(beforeEnd, stop);
    return sample(input.series, instance, stop - span, stop);
  });
  return {
    canary,
    baseline,
    baselineKind: "beforeUpgrade",
    window: { start: iso(earliest), end: iso(end) },
    baselineWindow: { start: iso(Math.min(beforeStart, beforeEnd)), end: iso(beforeEnd) },
  };
}

/**
 * Each canary instance's own level against the neighbours, before its upgrade: the Hodges-Lehmann
 * shift of its minutes against theirs over the same window. Subtracted from its minutes after the
 * upgrade, it leaves the version's effect without the VM's (placement, host, traffic share),
 * assuming that offset is the same on both images.
 */
function levelOffsets(input: CompareDataInput): LevelOffset[] {
  return input.canary.map((instance) => {
    const stop = (input.windows.startOf.get(instance.instanceId) ?? 0) - 2 * 60_000;
    const start = stop - ownLevelWindowSeconds * 1000;
    const own = sample(input.series, instance, start, stop).values;
    const neighbours = input.baseline.flatMap(
      (neighbour) => sample(input.series, neighbour, start, stop).values,
    );
    const window = { start: new Date(start).toISOString(), end: new Date(stop).toISOString() };
    const enough = own.length >= minLevelPoints && neighbours.length >= minLevelPoints;
    return {
      instanceId: instance.instanceId,
      window,
      points: own.length,
      baselinePoints: neighbours.length,
      ...(enough ? { offset: hodgesLehmann(own, neighbours) } : {}),
    };
  });
}

function sample(
  series: MetricSeries[],
  instance: { instanceId: string; name: string },
  start: number,
  end: number,
): CompareSample {
  const matching = seriesFor(series, instance);
  return {
    instanceId: instance.instanceId,
    vmName: matching[0]?.vmName ?? instance.name,
    values: start < end ? pointsWithin(matching, start, end) : [],
  };
}
