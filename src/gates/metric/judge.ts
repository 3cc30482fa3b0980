/**
 * The metric gate: an Azure Monitor metric of the batch's instances, aggregated over the window,
 * against the spec's min and/or max. Per-instance values are the evidence; an instance without
 * data yet makes the gate inconclusive unless another one already broke the threshold. Only
 * complete per-minute buckets inside the window count: starting at or after the window's (and the
 * instance's own) start, ending by the window's end (which the caller has already moved back by
 * the ingestion delay).
 *
 * Coverage contract: an interim evaluation (`final` false) passes on the data so far; a breach
 * fails at once either way. A `final` evaluation (the one that may end a bake) must cover
 * `coverage.requiredSeconds`: with less, what would have passed is inconclusive with the reason
 * "not enough data yet (x of y s)".
 */
import type { MetricSeries } from "../../azure/metrics.ts";
import type { GateJudgement } from "../../domain/effects.ts";
import type { MetricGateSpec } from "./schema.ts";

export type { MetricGateSpec };

export interface MetricGateInput {
  spec: MetricGateSpec;
  /**
   * The batch: instance id, VM name (the VMName dimension) and, when instances came back at
   * different times, the instance's own window start (ISO).
   */
  instances: { instanceId: string; name: string; start?: string }[];
  /** Series of this scale set (any instances; the gate picks the batch's). */
  series: MetricSeries[];
  window: { start: string; end: string };
  /** Errors Azure Monitor reported instead of data. */
  errors?: string[];
  measuredAt: string;
  /** The verdict that may end a bake: needs `coverage.requiredSeconds` of data. */
  final?: boolean;
  /** Seconds of complete data after the batch came back (least-covered instance), and the need. */
  coverage?: { seconds: number; requiredSeconds: number };
}

/** Data points are PT1M buckets: a bucket counts once it has ended. */
export const bucketSeconds = 60;

/** Seconds of data a final verdict needs: the window, or the bake when shorter. */
export function requiredCoverageSeconds(spec: MetricGateSpec, bakeSeconds: number | undefined): number {
  return Math.min(spec.windowSeconds, bakeSeconds ?? spec.windowSeconds);
}

/** Parsed bucket starts: one evaluation reads each point in several windows. */
const parsedTimes = new WeakMap<object, number>();
function timeOf(point: MetricSeries["points"][number]): number {
  let at = parsedTimes.get(point);
  if (at === undefined) {
    at = Date.parse(point.timeStamp);
    parsedTimes.set(point, at);
  }
  return at;
}

/** Points of `series` whose bucket starts at or after `start` and has ended by `end` (epoch ms). */
export function pointsWithin(series: MetricSeries[], start: number, end: number): number[] {
  const values: number[] = [];
  for (const entry of series)
    for (const point of entry.points) {
      const at = timeOf(point);
      if (at >= start && at + bucketSeconds * 1000 <= end) values.push(point.value);
    }
  return values;
}

export interface InstanceMetricValue {
  instanceId: string;
  vmName: string;
  value?: number;
  points: number;
  breach?: "min" | "max";
}

/** Folds a window's data points into one value the way the aggregation means it. */
export function aggregate(values: number[], aggregation: MetricGateSpec["aggregation"]): number | undefined {
  if (values.length === 0) return undefined;
  switch (aggregation) {
    case "Average":
      return values.reduce((sum, value) => sum + value, 0) / values.length;
    case "Maximum":
      return Math.max(...values);
    case "Minimum":
      return Math.min(...values);
    case "Total":
    case "Count":
      return values.reduce((sum, value) => sum + value, 0);
  }
}

/** A series belongs to an instance when its VMName is the instance's name or ends in `_<instanceId>`. */
export function seriesFor(
  series: MetricSeries[],
  instance: { instanceId: string; name: string },
): MetricSeries[] {
  const name = instance.name.toLowerCase();
  return series.filter((entry) => {
    const vmName = entry.vmName.toLowerCase();
    return vmName === name || vmName.endsWith(`_${instance.instanceId}`);
  });
}

export function judgeMetric(input: MetricGateInput): GateJudgement {
  const { spec } = input;
  const windowStart = Date.parse(input.window.start);
  const windowEnd = Date.parse(input.window.end);
  const values: InstanceMetricValue[] = input.instances.map((instance) => {
    const matching = seriesFor(input.series, instance);
    // A bucket that starts before the window (the minute the batch came back in) mixes in the
    // old image's samples, and one that has not ended yet is still filling: neither counts.
    const start = Math.max(windowStart, instance.start ? Date.parse(instance.start) : windowStart);
    const points = pointsWithin(matching, start, windowEnd);
    const value = aggregate(points, spec.aggregation);
    const result: InstanceMetricValue = {
      instanceId: instance.instanceId,
      vmName: matching[0]?.vmName ?? instance.name,
      points: points.length,
    };
    if (value === undefined) return result;
    result.value = Math.round(value * 1000) / 1000;
    if (spec.max !== undefined && value > spec.max) result.breach = "max";
    else if (spec.min !== undefined && value < spec.min) result.breach = "min";
    return result;
  });
  const threshold = {
    ...(spec.min === undefined ? {} : { min: spec.min }),
    ...(spec.max === undefined ? {} : { max: spec.max }),
  };
  const evidence = {
    metric: spec.metric,
    namespace: spec.namespace,
    aggregation: spec.aggregation,
    threshold,
    window: { ...input.window, seconds: spec.windowSeconds },
    values,
    errors: input.errors ?? [],
    final: input.final ?? false,
    ...(input.coverage ? { coverage: input.coverage } : {}),
  };
  const base = {
    gate: "metric" as const,
    measuredAt: input.measuredAt,
    instanceIds: input.instances.map((instance) => instance.instanceId),
    evidence,
  };
  const label = `${spec.aggregation} ${spec.metric}`;
  const breaches = values.filter((value) => value.breach);
  if (breaches.length > 0) {
    const described = breaches
      .map(
        (value) =>
          `${value.instanceId}: ${value.value} (${value.breach} ${value.breach === "max" ? spec.max : spec.min})`,
      )
      .join("; ");
    return {
      ...base,
      verdict: "failed",
      summary: `${label} out of bounds on ${breaches.length} of ${values.length} instances: ${described}`,
    };
  }
  const missing = values.filter((value) => value.value === undefined);
  if (missing.length > 0) {
    const why = input.errors?.length ? ` (${input.errors.join("; ")})` : "";
    return {
      ...base,
      verdict: "inconclusive",
      summary: `no ${label} data yet for ${missing.length} of ${values.length} instances: ${missing.map((value) => value.instanceId).join(", ")}${why}`,
    };
  }
  const bounds = [
    spec.min === undefined ? "" : `>= ${spec.min}`,
    spec.max === undefined ? "" : `<= ${spec.max}`,
  ]
    .filter(Boolean)
    .join(" and ");
  const coverage = input.coverage;
  if (input.final && coverage && coverage.seconds < coverage.requiredSeconds) {
    return {
      ...base,
      verdict: "inconclusive",
      summary: `${label} ${bounds} so far, but not enough data yet (${coverage.seconds} of ${coverage.requiredSeconds} s)`,
    };
  }
  return { ...base, verdict: "passed", summary: `${label} ${bounds} on all ${values.length} instances` };
}
