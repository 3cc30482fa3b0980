/**
 * The shared "metrics" read of the gate providers that declare it (metric, compare): where they
 * look, and ONE Azure Monitor call per region and namespace for all of them. The windows are
 * derived once per evaluation from the batch's return times, the ingestion delay and the gates'
 * needs, so every gate of one evaluation judges the same minutes. Pure except `readMetrics` /
 * `fetchGateMetrics`, which only read (a crash loses nothing; the effect runs again).
 *
 * Timeline of one instance: it came back at `upgradedAt` (or the batch's `since`); its first
 * complete minute starts at the next minute boundary; the newest minute that counts ended by
 * `now − ingestionDelay`. Coverage is the span between them.
 */
import type { MetricAggregation, MetricQueryResult, MetricSeries, MetricsAdapter } from "../azure/metrics.ts";
import type { GateJudgement } from "../domain/effects.ts";
import type { InstanceFacts } from "../domain/fleet.ts";
import { bucketSeconds } from "./metric/judge.ts";
import type { GateEvaluationInput, GateRun } from "./provider.ts";

const minute = bucketSeconds * 1000;
/** Azure Monitor serves at most 1,440 PT1M points per call. */
const maxLookbackMs = 1440 * minute;

/** One gate's share of the call: its metric and aggregation in a namespace, from `start` (epoch ms). */
export interface MetricNeed {
  namespace: string;
  metric: string;
  aggregation: MetricAggregation;
  start: number;
}

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
 * One call per namespace (in practice one: every default gate uses the scale set namespace) for
 * every metric and aggregation the gates need, over the union of their windows.
 */
export async function fetchGateMetrics(
  metrics: Pick<MetricsAdapter, "queryScaleSetMetrics">,
  request: {
    region: string;
    scaleSetId: string;
    needs: MetricNeed[];
    end: number;
    top: number;
    signal?: AbortSignal;
  },
): Promise<{ byNamespace: Map<string, MetricQueryResult | Error>; calls: number }> {
  const namespaces = new Map<string, MetricNeed[]>();
  for (const need of request.needs)
    namespaces.set(need.namespace, [...(namespaces.get(need.namespace) ?? []), need]);
  const earliest = Math.min(...request.needs.map((need) => need.start));
  const start = Math.max(floorMinute(earliest), request.end - maxLookbackMs);
  const entries = await Promise.all(
    [...namespaces].map(async ([namespace, needs]) => {
      try {
        const result = await metrics.queryScaleSetMetrics({
          region: request.region,
          scaleSetIds: [request.scaleSetId],
          metrics: needs.map((need) => need.metric),
          aggregations: needs.map((need) => need.aggregation),
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

/** The series a metric-based spec reads (its namespace, metric and aggregation). */
export function metricSeriesOf(spec: { namespace: string; metric: string; aggregation: MetricAggregation }) {
  return { namespace: spec.namespace, metric: spec.metric, aggregation: spec.aggregation };
}

/** What the evaluation read once for every metric-based gate. */
export interface MetricReads {
  windows: EvaluationWindows;
  measuredAt: string;
  byNamespace: Map<string, MetricQueryResult | Error>;
}

/**
 * The evaluation's one metrics read, given each declaring gate's need as a function of the
 * windows (undefined, and 0 calls reported, when no gate declared one).
 */
export async function readMetrics(
  input: GateEvaluationInput,
  instances: InstanceFacts[],
  needs: ((windows: EvaluationWindows) => MetricNeed)[],
): Promise<MetricReads | undefined> {
  if (needs.length === 0) {
    input.onMetricsCalls?.(0);
    return undefined;
  }
  const now = input.now();
  const windows = evaluationWindows({
    now,
    ingestionDelaySeconds: input.azure.metrics.ingestionDelaySeconds,
    since: input.since,
    instanceIds: input.instanceIds,
    ...(input.upgradedAt ? { upgradedAt: input.upgradedAt } : {}),
  });
  const earliestStart = Math.min(...windows.startOf.values());
  const { byNamespace, calls } = await fetchGateMetrics(input.azure.metrics, {
    region: input.location,
    scaleSetId: input.scaleSetId,
    needs: needs.map((need) => {
      const wanted = need(windows);
      return { ...wanted, start: Math.min(wanted.start, earliestStart) };
    }),
    // The query ends now (Azure serves what it has); the gates count only minutes ended by the cutoff.
    end: now.getTime(),
    top: Math.max(instances.length, input.instanceIds.length),
    ...(input.signal ? { signal: input.signal } : {}),
  });
  input.onMetricsCalls?.(calls);
  return { windows, measuredAt: now.toISOString(), byNamespace };
}

/** A metric-based gate's slice of the shared read, or why it cannot be judged now. */
export type MetricView =
  | {
      windows: EvaluationWindows;
      measuredAt: string;
      /** The end of the newest complete minute that counts (dataEnd), epoch ms and ISO. */
      end: number;
      endIso: string;
      /** The series of this gate's metric and aggregation. */
      series: MetricSeries[];
      errors: string[];
      /** The batch with VM names (the VMName dimension). */
      batch: { instanceId: string; name: string }[];
      named: (instanceId: string) => { instanceId: string; name: string };
      listed: (instanceId: string) => boolean;
      final: boolean;
    }
  | { inconclusive: GateJudgement };

export function metricView(
  run: GateRun,
  gate: { kind: GateJudgement["gate"]; namespace: string; metric: string; aggregation: string },
): MetricView {
  const reads = run.metrics;
  if (!reads) throw new Error("metrics were not read for a metric-based gate");
  const { windows, measuredAt } = reads;
  const byId = new Map(run.instances.map((instance) => [instance.instanceId, instance]));
  const named = (instanceId: string) => ({ instanceId, name: byId.get(instanceId)?.name ?? instanceId });
  const read = reads.byNamespace.get(gate.namespace);
  const end = dataEnd(windows);
  const endIso = new Date(end).toISOString();
  if (!read || read instanceof Error) {
    // Monitor unreachable or refusing: the gate cannot be evaluated now, which is not a pass.
    const reason = read?.message ?? "no answer";
    return {
      inconclusive: {
        gate: gate.kind,
        verdict: "inconclusive",
        summary: `${gate.aggregation} ${gate.metric} could not be read: ${reason}`,
        measuredAt,
        instanceIds: run.instanceIds,
        evidence: { metric: gate.metric, dataUntil: endIso, error: reason },
      },
    };
  }
  return {
    windows,
    measuredAt,
    end,
    endIso,
    series: read.series.filter(
      (entry) =>
        (entry.metric === undefined || entry.metric.toLowerCase() === gate.metric.toLowerCase()) &&
        (entry.aggregation === undefined || entry.aggregation === gate.aggregation),
    ),
    errors: read.errors,
    batch: run.instanceIds.map(named),
    named,
    listed: (instanceId) => byId.has(instanceId),
    final: run.final ?? false,
  };
}
