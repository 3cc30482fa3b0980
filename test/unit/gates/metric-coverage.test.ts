/** The metric gate's coverage contract and the evaluation windows (ingestion delay, per-instance starts). */
import { describe, expect, it } from "vitest";
import type { MetricSeries } from "../../../src/azure/metrics.ts";
import {
  judgeMetric,
  type MetricGateSpec,
  requiredCoverageSeconds,
} from "../../../src/gates/metric/judge.ts";
import { evaluationWindows } from "../../../src/gates/metric-windows.ts";

const spec: MetricGateSpec = {
  kind: "metric",
  metric: "Percentage CPU",
  namespace: "Microsoft.Compute/virtualMachineScaleSets",
  aggregation: "Average",
  windowSeconds: 300,
  max: 80,
  onInconclusive: "fail",
};
const t0 = Date.parse("2026-12-04T12:00:00.000Z");
const at = (minutes: number) => new Date(t0 + minutes * 60_000).toISOString();
const series = (values: number[]): MetricSeries => ({
  scaleSetId: "vmss",
  vmName: "web_0",
  points: values.map((value, m) => ({ timeStamp: at(m), value })),
});
const instances = [{ instanceId: "0", name: "web_0" }];

describe("metric gate coverage", () => {
  const base = { spec, instances, window: { start: at(0), end: at(3) }, measuredAt: at(6) };
  const coverage = { seconds: 180, requiredSeconds: 300 };

  it("an interim look passes on the data so far; a final one with less than the required coverage is inconclusive", () => {
    expect(judgeMetric({ ...base, series: [series([20, 21, 22])], coverage }).verdict).toBe("passed");
    const final = judgeMetric({ ...base, series: [series([20, 21, 22])], coverage, final: true });
    expect(final).toMatchObject({
      verdict: "inconclusive",
      summary: expect.stringMatching(/not enough data yet \(180 of 300 s\)/),
    });
    expect(
      judgeMetric({
        ...base,
        series: [series([20, 21, 22])],
        coverage: { seconds: 300, requiredSeconds: 300 },
        final: true,
      }).verdict,
    ).toBe("passed");
  });

  it("a breach fails at once, interim or final, whatever the coverage", () => {
    expect(judgeMetric({ ...base, series: [series([95, 96, 97])], coverage, final: true }).verdict).toBe(
      "failed",
    );
    expect(judgeMetric({ ...base, series: [series([95, 96, 97])], coverage }).verdict).toBe("failed");
  });

  it("counts only minutes that have ended by the window's end: a still-filling minute is left out", () => {
    // Minute 3 (12:03-12:04) has not ended at 12:03: its 99 must not count.
    const result = judgeMetric({ ...base, series: [series([20, 21, 22, 99])] });
    expect(result.verdict).toBe("passed");
    expect(result.evidence.values).toEqual([expect.objectContaining({ points: 3, value: 21 })]);
  });

  it("an instance's own start excludes its minutes before it came back", () => {
    const result = judgeMetric({
      ...base,
      instances: [{ ...instances[0], start: at(2) } as (typeof instances)[0]],
      series: [series([99, 99, 22])],
    });
    expect(result.evidence.values).toEqual([expect.objectContaining({ points: 1, value: 22 })]);
  });
});

describe("evaluation windows", () => {
  it("keeps the ingestion delay out and measures coverage on the least-covered instance", () => {
    const windows = evaluationWindows({
      now: new Date(t0 + 10 * 60_000 + 30_000),
      ingestionDelaySeconds: 180,
      since: new Date(t0 + 20_000).toISOString(),
      instanceIds: ["0", "1"],
      upgradedAt: { "1": at(2) },
    });
    expect(windows.cutoff).toBe(t0 + 7 * 60_000 + 30_000);
    // Instance 0 came back at 12:00:20: its first complete minute is 12:01; instance 1's is 12:02.
    expect(windows.startOf.get("0")).toBe(t0 + 60_000);
    expect(windows.startOf.get("1")).toBe(t0 + 2 * 60_000);
    // Complete minutes 12:02 to 12:07 for instance 1: 300 s.
    expect(windows.coveredSeconds).toBe(300);
  });

  it("a final metric verdict needs min(windowSeconds, bake)", () => {
    expect(requiredCoverageSeconds(spec, 600)).toBe(300);
    expect(requiredCoverageSeconds(spec, 120)).toBe(120);
    expect(requiredCoverageSeconds(spec, undefined)).toBe(300);
  });
});
