/**
 * The compare gate kind: joins the evaluation's one metrics call (../metric-windows.ts), takes
 * the canary's samples and the baseline's (neighbours on the previous image, or before/after) and
 * judges the shift (./judge.ts, docs/analysis.md). Read-only.
 */
import { metricSeriesOf, metricView } from "../metric-windows.ts";
import type { GateProvider } from "../provider.ts";
import { compareEarliestRead, compareLooks, compareRequiredCoverageSeconds } from "./fetch.ts";
import { judgeCompareLooks } from "./judge.ts";
import { compareGateSchema } from "./schema.ts";

export const compareGate: GateProvider<typeof compareGateSchema> = {
  kind: "compare",
  schema: compareGateSchema,
  docs: "compare",
  simulator: ["metrics.queryResources", "virtualMachineScaleSetVMs.list"],
  metrics: {
    series: metricSeriesOf,
    earliestRead: (_spec, windows) => compareEarliestRead(windows),
  },
  judge(spec, run) {
    const view = metricView(run, spec);
    if ("inconclusive" in view) return view.inconclusive;
    const canaryIds = new Set(run.instanceIds);
    const baseline = (run.baselineInstanceIds ?? [])
      .filter((id) => !canaryIds.has(id) && view.listed(id))
      .map(view.named);
    return judgeCompareLooks(
      compareLooks({ spec, windows: view.windows, canary: view.batch, baseline, series: view.series }),
      {
        spec,
        errors: view.errors,
        measuredAt: view.measuredAt,
        final: view.final,
        coverage: {
          seconds: view.windows.coveredSeconds,
          requiredSeconds: compareRequiredCoverageSeconds(run.requiredCoverageSeconds),
        },
      },
    );
  },
};
