/** The compare gate's judge: known shifts fail, same distributions pass, too little data is inconclusive. */
import { describe, expect, it } from "vitest";
import type { MetricSeries } from "../../../../src/azure/metrics.ts";
import { compareLooks } from "../../../../src/gates/compare/fetch.ts";
import { type CompareInput, judgeCompare, judgeCompareLooks } from "../../../../src/gates/compare/judge.ts";
import { exactCdf, hodgesLehmann, mannWhitney } from "../../../../src/gates/compare/mann-whitney.ts";
import type { CompareGateSpec } from "../../../../src/gates/compare/schema.ts";
import { evaluationWindows } from "../../../../src/gates/metric-windows.ts";

const spec: CompareGateSpec = {
  kind: "compare",
  metric: "Percentage CPU",
  namespace: "Microsoft.Compute/virtualMachineScaleSets",
  aggregation: "Average",
  direction: "increase",
  tolerancePercent: 20,
  confidence: 0.98,
  onInconclusive: "fail",
};

/** A deterministic, noisy-looking series around `level` (no randomness: reruns are identical). */
function series(level: number, count: number, phase: number): number[] {
  return Array.from(
    { length: count },
    (_, i) => level * (1 + 0.06 * Math.sin(i * 1.7 + phase) + 0.03 * Math.cos(i * 0.9 + phase * 2)),
  );
}

function input(canary: number[], baseline: number[][], overrides: Partial<CompareInput> = {}): CompareInput {
  return {
    spec,
    canary: [{ instanceId: "0", vmName: "web_0", values: canary }],
    baseline: baseline.map((values, i) => ({ instanceId: String(i + 1), vmName: `web_${i + 1}`, values })),
    baselineKind: "instances",
    window: { start: "2026-12-04T12:00:00.000Z", end: "2026-12-04T12:10:00.000Z" },
    baselineWindow: { start: "2026-12-04T12:00:00.000Z", end: "2026-12-04T12:10:00.000Z" },
    measuredAt: "2026-12-04T12:13:00.000Z",
    ...overrides,
  };
}

const fleet = [series(25, 10, 1), series(25, 10, 2), series(25, 10, 3), series(25, 10, 4)];

describe("Mann-Whitney", () => {
  it("matches R's wilcox.test on its own example (W = 35, p = 0.2544, interval [-0.15, 0.76], estimate 0.305)", () => {
    const x = [0.8, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46];
    const y = [1.15, 0.88, 0.9, 0.74, 1.21];
    const result = mannWhitney(x, y, 0.95);
    expect(result.u).toBe(35);
    expect(result.pValue).toBeCloseTo(0.2544, 4);
    expect(result.lower).toBeCloseTo(-0.15, 6);
    expect(result.upper).toBeCloseTo(0.76, 6);
    expect(result.estimate).toBeCloseTo(0.305, 6);
    expect(result.method).toBe("exact");
  });

  it("the exact null distribution of U is uniform for one point against four", () => {
    expect([...exactCdf(1, 4)]).toEqual([0.2, 0.4, 0.6, 0.8, 1]);
  });
});

describe("compare judge", () => {
  it("fails a canary 60 % above its neighbours, naming the shift and the interval", () => {
    const result = judgeCompare(input(series(40, 10, 5), fleet));
    expect(result.verdict).toBe("failed");
    expect(result.summary).toMatch(/higher than the baseline instances beyond the 20 % tolerance/);
    const test = result.evidence.test as {
      interval: { lower: number; upper: number };
      effectPercent: number;
      estimate: number;
    };
    expect(test.effectPercent).toBeGreaterThan(50);
    expect(test.effectPercent).toBeLessThan(70);
    expect(test.interval.lower).toBeGreaterThan(5);
    expect(test.interval.upper).toBeGreaterThan(test.interval.lower);
    expect(result.evidence.baseline).toMatchObject({
      points: 40,
      instances: [{ instanceId: "1", points: 10 }, {}, {}, {}],
    });
  });

  it("passes a canary drawn like its neighbours", () => {
    const result = judgeCompare(input(series(25, 10, 7), fleet));
    expect(result.verdict).toBe("passed");
    expect(result.summary).toMatch(/no significant shift|within the 20 % tolerance/);
  });

  it("passes a significant shift inside the tolerance (+10 % with 20 % allowed), fails it when the tolerance is 5 %", () => {
    const canary = series(27.5, 10, 5);
    expect(judgeCompare(input(canary, fleet)).verdict).toBe("passed");
    const strict = judgeCompare({ ...input(canary, fleet), spec: { ...spec, tolerancePercent: 5 } });
    expect(strict.verdict).toBe("failed");
  });

  it("is inconclusive without data, never passed", () => {
    expect(judgeCompare(input([], fleet))).toMatchObject({
      verdict: "inconclusive",
      summary: expect.stringMatching(/no data for the canary/),
    });
    expect(judgeCompare(input(series(25, 10, 1), [])).summary).toMatch(/no data for the baseline/);
  });

  it("is inconclusive when too few points cannot reach the confidence, even for a large shift", () => {
    // 1 canary point vs 4: every arrangement has probability 1/5 > 2 %.
    const result = judgeCompare(input([90], [[25], [26], [24], [25]]));
    expect(result).toMatchObject({
      verdict: "inconclusive",
      summary: expect.stringMatching(/not enough data/),
    });
    // 3 vs 12 reaches it (C(15,3) = 455 ≥ 100): the same shift now fails.
    expect(
      judgeCompare(
        input(
          [90, 91, 92],
          [
            [25, 26, 24],
            [25, 27, 23],
            [26, 24, 25],
            [24, 25, 26],
          ],
        ),
      ).verdict,
    ).toBe("failed");
  });

  it("honours the direction: a drop fails `decrease` and `either`, never `increase`", () => {
    const canary = series(15, 10, 5);
    expect(judgeCompare(input(canary, fleet)).verdict).toBe("passed");
    expect(judgeCompare({ ...input(canary, fleet), spec: { ...spec, direction: "decrease" } }).verdict).toBe(
      "failed",
    );
    expect(judgeCompare({ ...input(canary, fleet), spec: { ...spec, direction: "either" } }).verdict).toBe(
      "failed",
    );
    const rise = series(40, 10, 5);
    expect(judgeCompare({ ...input(rise, fleet), spec: { ...spec, direction: "decrease" } }).verdict).toBe(
      "passed",
    );
  });

  it("tolerance boundary: a clean +30 % shift fails at 25 % tolerance and passes at 35 %", () => {
    const baseline = [[20, 21, 22, 23, 24, 25, 26, 27, 28, 29]];
    const canary = baseline[0]?.map((value) => value * 1.3) ?? [];
    expect(
      judgeCompare({ ...input(canary, baseline), spec: { ...spec, tolerancePercent: 25 } }).verdict,
    ).toBe("failed");
    expect(
      judgeCompare({ ...input(canary, baseline), spec: { ...spec, tolerancePercent: 35 } }).verdict,
    ).toBe("passed");
  });

  it("a final look with too little coverage is inconclusive unless it failed", () => {
    const coverage = { seconds: 240, requiredSeconds: 600 };
    const good = judgeCompare(input(series(25, 10, 7), fleet, { final: true, coverage }));
    expect(good).toMatchObject({
      verdict: "inconclusive",
      summary: expect.stringMatching(/not enough data yet \(240 of 600 s\)/),
    });
    expect(judgeCompare(input(series(25, 10, 7), fleet, { final: false, coverage })).verdict).toBe("passed");
    expect(judgeCompare(input(series(40, 10, 5), fleet, { final: true, coverage })).verdict).toBe("failed");
  });

  it("passes identical samples (every value tied), without dividing by zero", () => {
    const flat = Array.from({ length: 10 }, () => 25);
    const result = judgeCompare(input(flat, [flat, flat]));
    expect(result.verdict).toBe("passed");
    expect(result.evidence.test).toMatchObject({ estimate: 0, interval: { lower: 0, upper: 0 } });
  });
});

describe("compare looks", () => {
  const t0 = Date.parse("2026-12-04T12:00:00.000Z");
  const vm = (name: string, values: (m: number) => number): MetricSeries => ({
    scaleSetId: "vmss",
    vmName: name,
    points: Array.from({ length: 12 }, (_, m) => ({
      timeStamp: new Date(t0 + m * 60_000).toISOString(),
      value: values(m) * (1 + 0.04 * Math.sin(m * 2.3 + name.length)),
    })),
  });
  const canary = [{ instanceId: "0", name: "web_0" }];
  const baseline = [1, 2, 3, 4].map((i) => ({ instanceId: String(i), name: `web_${i}` }));
  const windows = evaluationWindows({
    now: new Date(t0 + 12 * 60_000),
    ingestionDelaySeconds: 0,
    since: new Date(t0).toISOString(),
    instanceIds: ["0"],
  });

  it("a late rise diluted in the window since the upgrade fails in the recent look", () => {
    // Fine for eight minutes, then +60 %: the last five minutes are mostly bad, the twelve are not.
    const series = [
      vm("web_0", (m) => (m >= 8 ? 40 : 25)),
      ...baseline.map((b, i) => vm(b.name, () => 25 + i * 0.3)),
    ];
    const looks = compareLooks({ spec, windows, canary, baseline, series });
    expect(looks).toHaveLength(2);
    const common = { spec, measuredAt: new Date(t0 + 12 * 60_000).toISOString() };
    expect(judgeCompare({ ...looks[0], ...common } as CompareInput).verdict).toBe("passed");
    const result = judgeCompareLooks(looks, common);
    expect(result.verdict).toBe("failed");
    expect(result.evidence.looks).toEqual([
      expect.objectContaining({ verdict: "passed" }),
      expect.objectContaining({ verdict: "failed" }),
    ]);
  });
});

describe("Hodges-Lehmann by selection", () => {
  it("equals the median of the sorted pairwise differences, for odd and even counts", () => {
    const x = series(25, 7, 3);
    for (const y of [series(24, 5, 1), series(26, 4, 2)]) {
      const differences = x.flatMap((xi) => y.map((yj) => xi - yj)).sort((a, b) => a - b);
      const mid = differences.length >> 1;
      const sorted =
        differences.length % 2
          ? differences[mid]
          : ((differences[mid - 1] ?? 0) + (differences[mid] ?? 0)) / 2;
      expect(hodgesLehmann(x, y)).toBeCloseTo(sorted ?? Number.NaN, 12);
    }
  });
});

describe("the canary's own level, corrected against the same neighbours before its upgrade", () => {
  const t0 = Date.parse("2026-12-04T12:00:00.000Z");
  /** 40 minutes before the upgrade (t0) to 10 after: `after` from t0 on, `before` until then. */
  const vm = (name: string, before: number, after: number, from = -40): MetricSeries => ({
    scaleSetId: "vmss",
    vmName: name,
    points: Array.from({ length: 10 - from }, (_, i) => {
      const m = i + from;
      return {
        timeStamp: new Date(t0 + m * 60_000).toISOString(),
        value: (m < 0 ? before : after) * (1 + 0.05 * Math.sin(m * 2.3 + name.length * 1.1)),
      };
    }),
  });
  const canary = [{ instanceId: "0", name: "web_0" }];
  const baseline = [1, 2, 3, 4].map((i) => ({ instanceId: String(i), name: `web_${i}` }));
  const neighbours = baseline.map((b) => vm(b.name, 25, 25));
  const windows = evaluationWindows({
    now: new Date(t0 + 10 * 60_000),
    ingestionDelaySeconds: 0,
    since: new Date(t0).toISOString(),
    instanceIds: ["0"],
  });
  const judge = (series: MetricSeries[], correctOwnLevel?: boolean) =>
    judgeCompareLooks(
      compareLooks({
        spec,
        windows,
        canary,
        baseline,
        series,
        ...(correctOwnLevel === undefined ? {} : { correctOwnLevel }),
      }),
      { spec, measuredAt: new Date(t0 + 10 * 60_000).toISOString() },
    );

  it("a VM that always ran 28 % above its neighbours, unchanged by the version: passes (it failed uncorrected)", () => {
    const series = [vm("web_0", 32, 32), ...neighbours];
    expect(judge(series, false).verdict).toBe("failed");
    const result = judge(series);
    expect(result.verdict).toBe("passed");
    const [level] = result.evidence.levelCorrection as {
      offset: number;
      points: number;
      window: { end: string };
    }[];
    expect(level?.offset).toBeGreaterThan(5);
    expect(level?.offset).toBeLessThan(9);
    expect(level?.points).toBe(30);
    // The window ends two minutes before the minute the canary came back in.
    expect(level?.window.end).toBe(new Date(t0 - 2 * 60_000).toISOString());
    expect(result.summary).toMatch(/corrected for its own level before the upgrade \(\+/);
  });

  it("a VM level with the fleet before and +40 % after: fails, the shift measured from its own level", () => {
    const result = judge([vm("web_0", 25, 35), ...neighbours]);
    expect(result.verdict).toBe("failed");
    const test = result.evidence.test as { effectPercent: number };
    expect(test.effectPercent).toBeGreaterThan(30);
    expect(test.effectPercent).toBeLessThan(50);
  });

  it("without minutes before the upgrade, the canary is judged as it is (not corrected)", () => {
    const result = judge([vm("web_0", 32, 32, 0), ...neighbours.map((n) => ({ ...n }))]);
    expect(result.verdict).toBe("failed");
    const [level] = result.evidence.levelCorrection as { offset?: number; points: number }[];
    expect(level?.points).toBe(0);
    expect(level?.offset).toBeUndefined();
  });
});
