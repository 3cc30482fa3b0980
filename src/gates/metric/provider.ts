/**
 * The metric gate kind: joins the evaluation's one metrics call (./../metric-windows.ts) and
 * judges the batch's per-instance values against min/max over its window. Read-only.
 */
import { metricSeriesOf, metricView } from "../metric-windows.ts";
import type { GateProvider } from "../provider.ts";
import { judgeMetric, requiredCoverageSeconds } from "./judge.ts";
import { metricGateSchema } from "./schema.ts";

export const metricGate: GateProvider<typeof metricGateSchema> = {
  kind: "metric",
  schema: metricGateSchema,
  docs: "metric",
  simulator: ["metrics.queryResources", "virtualMachineScaleSetVMs.list"],
  metrics: {
    series: metricSeriesOf,
    earliestRead: (spec, windows) => windows.cutoff - spec.windowSeconds * 1000,
  },
  judge(spec, run) {
    const view = metricView(run, spec);
    if ("inconclusive" in view) return view.inconclusive;
    const { windows } = view;
    const start = Math.max(Math.min(...windows.startOf.values()), view.end - spec.windowSeconds * 1000);
    return judgeMetric({
      spec,
      instances: view.batch.map((instance) => ({
        ...instance,
        start: new Date(windows.startOf.get(instance.instanceId) ?? start).toISOString(),
      })),
      series: view.series,
      window: { start: new Date(start).toISOString(), end: view.endIso },
      errors: view.errors,
      measuredAt: view.measuredAt,
      final: view.final,
      coverage: {
        seconds: windows.coveredSeconds,
        requiredSeconds: requiredCoverageSeconds(spec, run.requiredCoverageSeconds),
      },
    });
  },
};
