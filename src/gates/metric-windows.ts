/**
 * Where the metric-based gates (metric, compare) look, and one Azure Monitor call per region and
 * namespace for all of them: the windows are derived once per evaluation from the batch's return
 * times, the ingestion delay and the gates' needs, so every gate of one evaluation judges the same
 * minutes. Pure except `fetchGateMetrics`, which only reads.
 *
 * Timeline of one instance: it came back at `upgradedAt` (or the batch's `since`); its first
 * complete minute starts at the next minute boundary; the newest minute that counts ended by
 * `now − ingestionDelay`. Coverage is the span between them.
 */
import type { MetricAggregation, MetricQueryResult, MetricsAdapter } from "../azure/metrics.ts";
import type { GateSpec } from "../domain/spec.ts";
import { bucketSeconds } from "./metric.ts";

const minute = bucketSeconds * 1000;
/** The compare gate pools at most this much recent data (bounds the n·m pairwise differences). */
export const compareMaxWindowSeconds = 1800;
/**
 * The compare gate measures each canary instance's own level against its neighbours over this
 * long before its upgrade (compare/fetch.ts).
 */
export const ownLevelWindowSeconds = 1800;
/** Azure Monitor serves at most 1,440 PT1M points per call. */
const maxLookbackMs = 1440 * minute;

export type MetricBasedGate = Extract<GateSpec, { kind: "metric" | "compare" }>;

export interface WindowInput {
  now: Date;
  ingestionDelaySeconds: number;
  since: string;
  instanceIds: string[];
  upgradedAt?: Record<string, string>;
}

export interface EvaluationWindows {
  /** Newest instant whose minutes count (epoch ms): now − ingestion delay. */
  cutoff: number;
  /** Per instance, the start of its first complete minute on the new image (epoch ms). */
  startOf: Map<string, number>;
  /** Seconds of complete data of the least-covered instance. */
  coveredSeconds: number;
}

const ceilMinute = (ms: number) => Math.ceil(ms / minute) * minute;
const floorMinute = (ms: number) => Math.floor(ms / minute) * minute;

/**
 * The end of the newest complete minute that counts: a window's end. A window that ends at the
 * cutoff itself (mid-minute) would hold one whole bucket fewer than its length, and a one-minute
 * window none at all.
 */
export function dataEnd(windows: EvaluationWindows): number {
  return floorMinute(windows.cutoff);
}

export function evaluationWindows(input: WindowInput): EvaluationWindows {
  const cutoff = input.now.getTime() - input.ingestionDelaySeconds * 1000;
  const sinceMs = Date.parse(input.since);
  const startOf = new Map<string, number>();
  for (const id of input.instanceIds) {
    const own = input.upgradedAt?.[id];
    const at = own === undefined ? sinceMs : Date.parse(own);
    startOf.set(id, ceilMinute(Number.isNaN(at) ? sinceMs : at));
  }
  const latestStart = Math.max(...startOf.values());
  const coveredSeconds =
    startOf.size === 0 ? 0 : Math.max(0, Math.round((floorMinute(cutoff) - latestStart) / 1000));
  return { cutoff, startOf, coveredSeconds };
}

/**
 * The earliest minute any gate of this evaluation reads: a metric gate's window, and for a
 * compare gate the before/after window (as long as the time since the upgrade, capped) or the
 * window that measures each instance's own level (ownLevelWindowSeconds), whichever is longer,
 * plus the two minutes left out around the reimage.
 */
export function earliestRead(windows: EvaluationWindows, gates: MetricBasedGate[]): number {
  const earliestStart = Math.min(...windows.startOf.values());
  let start = earliestStart;
  for (const gate of gates) {
    if (gate.kind === "metric") start = Math.min(start, windows.cutoff - gate.windowSeconds * 1000);
    else {
      const span = Math.min(Math.max(0, windows.cutoff - earliestStart), compareMaxWindowSeconds * 1000);
      start = Math.min(start, earliestStart - Math.max(span, ownLevelWindowSeconds * 1000) - 2 * minute);
    }
  }
  return start;
}

/** Seconds of data a final verdict of this gate needs (see the evaluateGates effect). */
export function requiredCoverageSeconds(gate: MetricBasedGate, bakeSeconds: number | undefined): number {
  if (gate.kind === "metric") return Math.min(gate.windowSeconds, bakeSeconds ?? gate.windowSeconds);
  return Math.min(compareMaxWindowSeconds, bakeSeconds ?? 0);
}

/**
 * One call per namespace (in practice one: every default gate uses the scale set namespace) for
 * every metric and aggregation the gates need, over the union of their windows.
 */
export async function fetchGateMetrics(
  metrics: Pick<MetricsAdapter, "queryScaleSetMetrics">,
  request: {
    region: string;
    scaleSetId: string;
    gates: MetricBasedGate[];
    start: number;
    end: number;
    top: number;
    signal?: AbortSignal;
  },
): Promise<{ byNamespace: Map<string, MetricQueryResult | Error>; calls: number }> {
  const namespaces = new Map<string, MetricBasedGate[]>();
  for (const gate of request.gates)
    namespaces.set(gate.namespace, [...(namespaces.get(gate.namespace) ?? []), gate]);
  const start = Math.max(floorMinute(request.start), request.end - maxLookbackMs);
  const entries = await Promise.all(
    [...namespaces].map(async ([namespace, gates]) => {
      try {
        const result = await metrics.queryScaleSetMetrics({
          region: request.region,
          scaleSetIds: [request.scaleSetId],
          metrics: gates.map((gate) => gate.metric),
          aggregations: gates.map((gate) => gate.aggregation as MetricAggregation),
          namespace,
          start: new Date(start),
          end: new Date(Math.max(request.end, start + minute)),
          interval: "PT1M",
          top: request.top,
          ...(request.signal ? { signal: request.signal } : {}),
        });
        return [namespace, result] as const;
      } catch (error) {
        return [namespace, error instanceof Error ? error : new Error(String(error))] as const;
      }
    }),
  );
  return { byNamespace: new Map<string, MetricQueryResult | Error>(entries), calls: namespaces.size };
}
