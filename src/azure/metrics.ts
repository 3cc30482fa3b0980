/**
 * Azure Monitor metrics of scale sets, split by instance (the `VMName` dimension), through
 * @azure/monitor-query-metrics. The batch endpoint is regional: one call per region, for up to
 * 50 scale sets of one subscription, asking for every VMName series (`top` defaults to 10).
 * One call carries several metrics and aggregations of one namespace (queryScaleSetMetrics), so a
 * gate evaluation makes one call per region and namespace, not one per gate.
 * `ingestionDelaySeconds`: how late the newest minutes may still be filling (platform metrics
 * arrive one to three minutes late); gates keep them out of every verdict.
 */
import { defaultMetricsIngestionDelaySeconds } from "../config/schema.ts";
import type { AzureClients } from "./clients.ts";
import { AzureAdapterError, wrapAzureError } from "./errors.ts";
import { scaleSetRef } from "./resource-id.ts";

export type MetricAggregation = "Average" | "Maximum" | "Minimum" | "Total" | "Count";

export interface MetricQuery {
  /** Short region name of every scale set in the query. */
  region: string;
  scaleSetIds: string[];
  metric: string;
  namespace: string;
  aggregation: MetricAggregation;
  start: Date;
  end: Date;
  /** ISO 8601 duration of one data point, e.g. PT1M. */
  interval: string;
  /** How many VMName series to ask for: at least the instances of the largest scale set. */
  top: number;
  signal?: AbortSignal;
}

export interface MetricPoint {
  timeStamp: string;
  value: number;
}

export interface MetricSeries {
  scaleSetId: string;
  /** Set by queryScaleSetMetrics: which metric and aggregation these points are. */
  metric?: string;
  aggregation?: MetricAggregation;
  /** The VMName dimension value as Azure Monitor reports it. */
  vmName: string;
  points: MetricPoint[];
}

export interface MetricQueryResult {
  series: MetricSeries[];
  /** Per-resource errors Azure Monitor reported instead of data (`errorCode: message`). */
  errors: string[];
}

/** Several metrics and aggregations of one namespace in one `metrics:getBatch` call. */
export interface MultiMetricQuery extends Omit<MetricQuery, "metric" | "aggregation"> {
  metrics: string[];
  aggregations: MetricAggregation[];
}

export interface MetricsAdapter {
  queryScaleSetMetric(query: MetricQuery): Promise<MetricQueryResult>;
  /** One call: a series per (scale set, metric, aggregation, VMName). */
  queryScaleSetMetrics(query: MultiMetricQuery): Promise<MetricQueryResult>;
  /** Seconds the newest data may still be filling (config or the connection file). */
  readonly ingestionDelaySeconds: number;
}

/** The batch API takes up to 50 resource ids per call. */
export const maxResourcesPerMetricsCall = 50;

export function createMetricsAdapter(
  clients: AzureClients,
  options: { ingestionDelaySeconds?: number } = {},
): MetricsAdapter {
  const queryScaleSetMetrics = async (query: MultiMetricQuery): Promise<MetricQueryResult> => {
    if (query.scaleSetIds.length === 0 || query.metrics.length === 0) return { series: [], errors: [] };
    if (query.scaleSetIds.length > maxResourcesPerMetricsCall)
      throw new AzureAdapterError(
        "METRICS_TOO_MANY_RESOURCES",
        `at most ${maxResourcesPerMetricsCall} scale sets per metrics call`,
      );
    const subscriptions = new Set(
      query.scaleSetIds.map((id) => scaleSetRef(id).subscriptionId.toLowerCase()),
    );
    if (subscriptions.size > 1)
      throw new AzureAdapterError(
        "METRICS_MIXED_SUBSCRIPTIONS",
        "one metrics call covers scale sets of one subscription",
      );
    const metrics = [...new Set(query.metrics)];
    const aggregations = [...new Set(query.aggregations)];
    let results: Awaited<ReturnType<ReturnType<AzureClients["metrics"]>["queryResources"]>>;
    try {
      results = await clients
        .metrics(query.region)
        .queryResources(query.scaleSetIds, metrics, query.namespace, {
          startTime: query.start,
          endTime: query.end,
          interval: query.interval,
          aggregation: aggregations.join(","),
          filter: "VMName eq '*'",
          top: Math.max(query.top, 10),
        });
    } catch (error) {
      throw wrapAzureError(`querying metrics "${metrics.join(", ")}" in ${query.region}`, error);
    }
    const series: MetricSeries[] = [];
    const errors: string[] = [];
    for (const result of results) {
      const scaleSetId =
        query.scaleSetIds.find((id) => id.toLowerCase() === result.resourceId?.toLowerCase()) ??
        result.resourceId ??
        "";
      for (const metric of result.metrics) {
        if (metric.errorCode && metric.errorCode !== "Success") {
          errors.push(`${metric.errorCode}: ${metric.errorMessage ?? "no message"}`);
          continue;
        }
        // Like dimension names, the SDK may hand the metric name over as `{ value, localizedValue }`.
        const reported = localizableText(metric.name as unknown).toLowerCase();
        const metricName =
          metrics.length === 1 ? metrics[0] : metrics.find((name) => name.toLowerCase() === reported);
        if (metricName === undefined) continue;
        for (const timeseries of metric.timeseries ?? []) {
          const vmName = dimensionValue(timeseries.metadatavalues ?? [], "vmname");
          if (vmName === undefined) continue;
          for (const aggregation of aggregations) {
            const field = aggregationField(aggregation);
            const points: MetricPoint[] = [];
            for (const point of timeseries.data ?? []) {
              const value = point[field];
              if (typeof value === "number")
                points.push({ timeStamp: new Date(point.timeStamp).toISOString(), value });
            }
            series.push({ scaleSetId, metric: metricName, aggregation, vmName, points });
          }
        }
      }
    }
    return { series, errors };
  };
  return {
    ingestionDelaySeconds: options.ingestionDelaySeconds ?? defaultMetricsIngestionDelaySeconds,
    queryScaleSetMetrics,
    async queryScaleSetMetric(query) {
      const { metric, aggregation, ...rest } = query;
      return queryScaleSetMetrics({ ...rest, metrics: [metric], aggregations: [aggregation] });
    },
  };
}

function aggregationField(
  aggregation: MetricAggregation,
): "average" | "maximum" | "minimum" | "total" | "count" {
  return aggregation.toLowerCase() as "average" | "maximum" | "minimum" | "total" | "count";
}

/**
 * The SDK types a dimension name as a string but deserializes Azure's `{ value, localizedValue }`;
 * Azure may also lowercase it (`vmname`). Accept every form.
 */
export function dimensionValue(
  values: { name?: unknown; value?: string }[],
  wanted: string,
): string | undefined {
  for (const entry of values) {
    if (localizableText(entry.name).toLowerCase() === wanted) return entry.value;
  }
  return undefined;
}

/** A name Azure sends as a string or as `{ value, localizedValue }`. */
function localizableText(name: unknown): string {
  if (typeof name === "string") return name;
  if (typeof name === "object" && name !== null) return String((name as { value?: unknown }).value ?? "");
  return "";
}
