/**
 * Azure Monitor metrics of scale sets, split by instance (the `VMName` dimension), through
 * @azure/monitor-query-metrics. The batch endpoint is regional: one call per region, for up to
 * 50 scale sets of one subscription, asking for every VMName series (`top` defaults to 10).
 */
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
  /** The VMName dimension value as Azure Monitor reports it. */
  vmName: string;
  points: MetricPoint[];
}

export interface MetricQueryResult {
  series: MetricSeries[];
  /** Per-resource errors Azure Monitor reported instead of data (`errorCode: message`). */
  errors: string[];
}

export interface MetricsAdapter {
  queryScaleSetMetric(query: MetricQuery): Promise<MetricQueryResult>;
}

/** The batch API takes up to 50 resource ids per call. */
export const maxResourcesPerMetricsCall = 50;

export function createMetricsAdapter(clients: AzureClients): MetricsAdapter {
  return {
    async queryScaleSetMetric(query) {
      if (query.scaleSetIds.length === 0) return { series: [], errors: [] };
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
      let results: Awaited<ReturnType<ReturnType<AzureClients["metrics"]>["queryResources"]>>;
      try {
        results = await clients
          .metrics(query.region)
          .queryResources(query.scaleSetIds, [query.metric], query.namespace, {
            startTime: query.start,
            endTime: query.end,
            interval: query.interval,
            aggregation: query.aggregation,
            filter: "VMName eq '*'",
            top: Math.max(query.top, 10),
          });
      } catch (error) {
        throw wrapAzureError(`querying metric "${query.metric}" in ${query.region}`, error);
      }
      const series: MetricSeries[] = [];
      const errors: string[] = [];
      const field = aggregationField(query.aggregation);
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
          for (const timeseries of metric.timeseries ?? []) {
            const vmName = dimensionValue(timeseries.metadatavalues ?? [], "vmname");
            if (vmName === undefined) continue;
            const points: MetricPoint[] = [];
            for (const point of timeseries.data ?? []) {
              const value = point[field];
              if (typeof value === "number")
                points.push({ timeStamp: new Date(point.timeStamp).toISOString(), value });
            }
            series.push({ scaleSetId, vmName, points });
          }
        }
      }
      return { series, errors };
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
    const name = entry.name;
    const text =
      typeof name === "string"
        ? name
        : typeof name === "object" && name !== null
          ? String((name as { value?: unknown }).value ?? "")
          : "";
    if (text.toLowerCase() === wanted) return entry.value;
  }
  return undefined;
}
