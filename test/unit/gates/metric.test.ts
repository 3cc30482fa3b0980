import { describe, expect, it } from "vitest";
import type { MetricSeries } from "../../../src/azure/metrics.ts";
import { aggregate, judgeMetric, type MetricGateSpec } from "../../../src/gates/metric/judge.ts";

const spec: MetricGateSpec = {
  kind: "metric",
  metric: "Percentage CPU",
  namespace: "Microsoft.Compute/virtualMachineScaleSets",
  aggregation: "Average",
  windowSeconds: 300,
  max: 80,
  onInconclusive: "fail",
};
const window = { start: "2026-11-27T11:55:00.000Z", end: "2026-11-27T12:00:00.000Z" };
const measuredAt = window.end;
const scaleSetId =
  "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/web-a";
const batch = [
  { instanceId: "0", name: "web-a_0" },
  { instanceId: "2", name: "web-a_2" },
];

function series(vmName: string, values: number[]): MetricSeries {
  return {
    scaleSetId,
    vmName,
    points: values.map((value, index) => ({
      timeStamp: new Date(Date.parse(window.start) + index * 60_000).toISOString(),
      value,
    })),
  };
}

describe("metric gate", () => {
  it("passes when every instance's aggregate is within the threshold, with per-instance values as evidence", () => {
    const result = judgeMetric({
      spec,
      instances: batch,
      series: [series("web-a_0", [20, 30]), series("web-a_2", [25, 35]), series("web-a_3", [99])],
      window,
      measuredAt,
    });
    expect(result.verdict).toBe("passed");
    expect(result.evidence).toMatchObject({
      threshold: { max: 80 },
      window: { ...window, seconds: 300 },
      values: [
        { instanceId: "0", vmName: "web-a_0", value: 25, points: 2 },
        { instanceId: "2", vmName: "web-a_2", value: 30, points: 2 },
      ],
    });
  });

  it("fails when an instance's average is above max, naming it and the value", () => {
    const result = judgeMetric({
      spec,
      instances: batch,
      series: [series("web-a_0", [94, 96]), series("web-a_2", [25])],
      window,
      measuredAt,
    });
    expect(result.verdict).toBe("failed");
    expect(result.summary).toContain("0: 95 (max 80)");
  });

  it("fails below min", () => {
    const result = judgeMetric({
      spec: { ...spec, max: undefined, min: 10, metric: "Available Memory Bytes" },
      instances: batch,
      series: [series("web-a_0", [5]), series("web-a_2", [50])],
      window,
      measuredAt,
    });
    expect(result.verdict).toBe("failed");
    expect(result.evidence.values).toMatchObject([{ instanceId: "0", breach: "min" }, { instanceId: "2" }]);
  });

  it("is inconclusive while an instance has no data yet", () => {
    const result = judgeMetric({
      spec,
      instances: batch,
      series: [series("web-a_0", [20])],
      window,
      measuredAt,
    });
    expect(result.verdict).toBe("inconclusive");
    expect(result.summary).toContain("no Average Percentage CPU data yet for 1 of 2 instances: 2");
  });

  it("ignores a data point that starts before the window (the old image's minute)", () => {
    const before = { timeStamp: "2026-11-27T11:54:00.000Z", value: 20 };
    const result = judgeMetric({
      spec,
      instances: [batch[0] as { instanceId: string; name: string }],
      series: [{ scaleSetId, vmName: "web-a_0", points: [before, { timeStamp: window.start, value: 90 }] }],
      window,
      measuredAt,
    });
    expect(result.verdict).toBe("failed");
    expect(result.evidence.values).toMatchObject([{ value: 90, points: 1 }]);
  });

  it("matches VM names case-insensitively", () => {
    const result = judgeMetric({
      spec,
      instances: batch,
      series: [series("WEB-A_0", [20]), series("Web-A_2", [20])],
      window,
      measuredAt,
    });
    expect(result.verdict).toBe("passed");
  });

  it("aggregates the window as the aggregation says", () => {
    expect(aggregate([1, 5, 3], "Average")).toBe(3);
    expect(aggregate([1, 5, 3], "Maximum")).toBe(5);
    expect(aggregate([1, 5, 3], "Minimum")).toBe(1);
    expect(aggregate([1, 5, 3], "Total")).toBe(9);
    expect(aggregate([], "Average")).toBeUndefined();
  });
});
