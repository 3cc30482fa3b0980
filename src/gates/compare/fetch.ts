/**
 * The compare gate's data: from the evaluation's one metrics answer, the canary instances'
 * per-minute samples since each came back, and the baseline's. Baseline: instances of the same
 * scale set still on the previous image over the same minutes; with fewer than two of them, the
 * canary instances' own samples from an equal window before their upgrade (before/after).
 * Pure: the call itself is made once for all gates (../metric-windows.ts).
 */
import type { MetricSeries } from "../../azure/metrics.ts";
import { pointsWithin, seriesFor } from "../metric.ts";
import { compareMaxWindowSeconds, dataEnd, type EvaluationWindows } from "../metric-windows.ts";
import type { CompareInput, CompareSample } from "./judge.ts";
import type { CompareGateSpec } from "./schema.ts";

export interface CompareDataInput {
  spec: CompareGateSpec;
  windows: EvaluationWindows;
  /** The batch so far (every instance on the new image), with VM names. */
  canary: { instanceId: string; name: string }[];
  /** Instances still on the previous image, with VM names (may be empty). */
  baseline: { instanceId: string; name: string }[];
  /** Series of this gate's metric and aggregation only. */
  series: MetricSeries[];
}

/**
 * Each evaluation also judges the most recent minutes alone: a canary that turns bad late (a
 * leak, a job after warm-up) is diluted in the window since its upgrade but plain in its last
 * minutes. Both looks use the same test; the gate fails when either does (docs/analysis.md).
 */
export const recentWindowSeconds = 300;

/** The looks of one evaluation: since the upgrade, then (when longer) the recent minutes only. */
export function compareLooks(input: CompareDataInput): ReturnType<typeof compareData>[] {
  const full = compareData(input);
  const end = dataEnd(input.windows);
  const recentStart = end - recentWindowSeconds * 1000;
  const starts = [...input.windows.startOf.values()];
  if (starts.length === 0 || Math.min(...starts) >= recentStart) return [full];
  const startOf = new Map(
    [...input.windows.startOf].map(([id, start]) => [id, Math.max(start, recentStart)]),
  );
  if (full.baselineKind === "beforeUpgrade") return [full];
  // The baseline did not change: its whole window (more points) is the reference for both looks.
  const recent = compareData({ ...input, windows: { ...input.windows, startOf } });
  return [full, { ...recent, baseline: full.baseline, baselineWindow: full.baselineWindow }];
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
