/**
 * `npm run bench:analysis` (`node bench/analysis.ts [--trials N] [--seed S]`): the detection
 * benchmark of the compare gate and the continuous analysis, on synthetic series shaped like
 * Azure Monitor's Percentage CPU at PT1M: a fleet level, a per-VM level offset (the same before
 * and after the upgrade), per-minute noise with heavy tails (Student t, 3 degrees of freedom) and
 * some autocorrelation, missing minutes, and 32 minutes of history before the upgrade.
 * It runs the real gate code (evaluationWindows, compareLooks, judgeCompareLooks, judgeMetric)
 * with the default settings: one canary against four baseline instances, a 10-minute bake, an
 * evaluation every 60 s, failureLimit 0, the 180 s ingestion delay. Every trial's series are
 * judged by each compare variant (`variants`: without and with the own-level correction, three
 * recent-look lengths) and, side by side, by a one-look threshold gate (the bake's last 5
 * minutes against a max). `--vm-offset 0` removes the per-VM level offset.
 * Prints a table and writes bench/results/analysis.json; docs/analysis.md quotes it. Seeded:
 * the same seed gives the same numbers. No I/O but the result file.
 */
import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import type { MetricSeries } from "../src/azure/metrics.ts";
import type { GateVerdict } from "../src/domain/effects.ts";
import { compareLooks, recentWindowSeconds } from "../src/gates/compare/fetch.ts";
import { judgeCompareLooks } from "../src/gates/compare/judge.ts";
import type { CompareGateSpec } from "../src/gates/compare/schema.ts";
import { judgeMetric, type MetricGateSpec } from "../src/gates/metric/judge.ts";
import { evaluationWindows } from "../src/gates/metric-windows.ts";

const args = parseArgs({
  options: {
    trials: { type: "string", default: "1000" },
    seed: { type: "string", default: "20261204" },
    /** Standard deviation of a VM's own level around the fleet's, relative (0.04 = 4 %). */
    "vm-offset": { type: "string", default: "0.04" },
    out: { type: "string", default: new URL("./results/analysis.json", import.meta.url).pathname },
  },
}).values;
const trials = Number(args.trials);

/** The series model: every knob the results depend on, written into the result file. */
const model = {
  fleetLevel: 25,
  vmOffsetSd: Number(args["vm-offset"]),
  noiseSd: 0.08,
  noiseTailDf: 3,
  autocorrelation: 0.3,
  missingMinuteRate: 0.05,
  canaryInstances: 1,
  baselineInstances: 4,
  bakeMinutes: 10,
  intervalSeconds: 60,
  ingestionDelaySeconds: 180,
  failureLimit: 0,
  delayedOnsetMinute: 4,
  /** Minutes of series before the canary's upgrade: the own-level window (30) and the reimage (2). */
  preUpgradeMinutes: 32,
};

const compareSpec: CompareGateSpec = {
  kind: "compare",
  metric: "Percentage CPU",
  namespace: "Microsoft.Compute/virtualMachineScaleSets",
  aggregation: "Average",
  direction: "increase",
  tolerancePercent: 20,
  confidence: 0.98,
  onInconclusive: "fail",
};
/** A threshold a person would set for this fleet, and one set tight (the fleet's level + 20 %). */
const thresholdGates: { label: string; spec: MetricGateSpec }[] = [80, 30].map((max) => ({
  label: `one-look max ${max}`,
  spec: {
    kind: "metric",
    metric: "Percentage CPU",
    namespace: "Microsoft.Compute/virtualMachineScaleSets",
    aggregation: "Average",
    windowSeconds: 300,
    max,
    onInconclusive: "fail",
  },
}));

// --- seeded randomness -------------------------------------------------------------------
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
let random = mulberry32(Number(args.seed));
const gaussian = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
/** Student t with `df` degrees of freedom, scaled to unit standard deviation. */
function heavyTail(df: number): number {
  let chi = 0;
  for (let i = 0; i < df; i++) chi += gaussian() ** 2;
  return (gaussian() / Math.sqrt(chi / df)) * Math.sqrt((df - 2) / df);
}

// --- series ------------------------------------------------------------------------------
const t0 = Date.parse("2026-12-04T12:00:00.000Z");
const minute = 60_000;

/**
 * One VM from `preUpgradeMinutes` before the canary's upgrade (t0) to the bake's end: `shift(m)`
 * is the relative change at minute m ≥ 0 (0 for the baseline). Its level offset is the same
 * before and after, as the level correction assumes.
 */
function vmSeries(vmName: string, shift: (m: number) => number): MetricSeries {
  const level = model.fleetLevel * (1 + model.vmOffsetSd * gaussian());
  const points = [];
  let previous = 0;
  for (let m = -model.preUpgradeMinutes; m < model.bakeMinutes; m++) {
    const innovation = heavyTail(model.noiseTailDf) * Math.sqrt(1 - model.autocorrelation ** 2);
    previous = model.autocorrelation * previous + innovation;
    const value = Math.max(0, level * (1 + (m < 0 ? 0 : shift(m))) * (1 + model.noiseSd * previous));
    if (random() < model.missingMinuteRate) continue;
    points.push({ timeStamp: new Date(t0 + m * minute).toISOString(), value: Math.min(100, value) });
  }
  return { scaleSetId: "vmss", vmName, points };
}

/**
 * The compare gate as it was (neighbours only, a five-minute recent look), and with each canary's
 * own level corrected at three recent-look lengths; `default` is what the gate does unchanged.
 */
const variants = [
  {
    key: "uncorrected",
    label: "neighbours only, 5-min recent look",
    correctOwnLevel: false,
    recentSeconds: 300,
  },
  {
    key: "ownLevel5",
    label: "own level corrected, 5-min recent look",
    correctOwnLevel: true,
    recentSeconds: 300,
  },
  {
    key: "default",
    label: `own level corrected, ${recentWindowSeconds / 60}-min recent look (the default)`,
    correctOwnLevel: true,
    recentSeconds: recentWindowSeconds,
  },
  {
    key: "ownLevel3",
    label: "own level corrected, 3-min recent look",
    correctOwnLevel: true,
    recentSeconds: 180,
  },
] as const;
type VariantKey = (typeof variants)[number]["key"];

interface Trial {
  /** Per variant, the evaluation index (1-based, one per interval) of the first failed verdict. */
  failedAt: Partial<Record<VariantKey, number>>;
  final: Record<VariantKey, GateVerdict>;
  threshold: Record<string, GateVerdict>;
}

function runTrial(shift: (m: number) => number): Trial {
  const canary = [{ instanceId: "0", name: "web_0" }];
  const baseline = Array.from({ length: model.baselineInstances }, (_, i) => ({
    instanceId: String(i + 1),
    name: `web_${i + 1}`,
  }));
  const series = [vmSeries("web_0", shift), ...baseline.map((vm) => vmSeries(vm.name, () => 0))];
  const since = new Date(t0).toISOString();
  const failedAt: Trial["failedAt"] = {};
  const final = Object.fromEntries(variants.map((v) => [v.key, "inconclusive"])) as Trial["final"];
  const threshold: Record<string, GateVerdict> = {};
  for (let k = 1; k <= model.bakeMinutes; k++) {
    const now = new Date(t0 + k * model.intervalSeconds * 1000 + model.ingestionDelaySeconds * 1000);
    const windows = evaluationWindows({
      now,
      ingestionDelaySeconds: model.ingestionDelaySeconds,
      since,
      instanceIds: ["0"],
    });
    const isFinal = k === model.bakeMinutes;
    const coverage = { seconds: windows.coveredSeconds, requiredSeconds: model.bakeMinutes * 60 };
    for (const variant of variants) {
      if (failedAt[variant.key] !== undefined) continue;
      const looks = compareLooks({
        spec: compareSpec,
        windows,
        canary,
        baseline,
        series,
        correctOwnLevel: variant.correctOwnLevel,
        recentWindowSeconds: variant.recentSeconds,
      });
      const result = judgeCompareLooks(looks, {
        spec: compareSpec,
        measuredAt: now.toISOString(),
        final: isFinal,
        coverage,
      });
      if (result.verdict === "failed") failedAt[variant.key] = k;
      if (isFinal) final[variant.key] = result.verdict;
    }
    if (isFinal) {
      const end = windows.cutoff;
      for (const gate of thresholdGates) {
        threshold[gate.label] = judgeMetric({
          spec: gate.spec,
          instances: canary,
          series,
          window: {
            start: new Date(end - gate.spec.windowSeconds * 1000).toISOString(),
            end: new Date(end).toISOString(),
          },
          measuredAt: now.toISOString(),
          final: isFinal,
          coverage: { seconds: windows.coveredSeconds, requiredSeconds: gate.spec.windowSeconds },
        }).verdict;
      }
    }
  }
  return { failedAt, final, threshold };
}

const percent = (count: number, total: number) => Math.round((count / total) * 10_000) / 100;
const medianOf = (values: number[]) =>
  values.length ? [...values].sort((a, b) => a - b)[values.length >> 1] : null;

function scenario(label: string, shift: (m: number) => number, count: number) {
  const results = Array.from({ length: count }, () => runTrial(shift));
  const compare = Object.fromEntries(
    variants.map((variant) => {
      const firstFail = results.flatMap((trial) => {
        const at = trial.failedAt[variant.key];
        return at === undefined ? [] : [at];
      });
      return [
        variant.key,
        {
          failedPercent: percent(firstFail.length, count),
          finalInconclusivePercent: percent(
            results.filter(
              (trial) =>
                trial.failedAt[variant.key] === undefined && trial.final[variant.key] === "inconclusive",
            ).length,
            count,
          ),
          medianEvaluationOfFirstFailure: medianOf(firstFail),
        },
      ];
    }),
  ) as Record<
    VariantKey,
    { failedPercent: number; finalInconclusivePercent: number; medianEvaluationOfFirstFailure: number | null }
  >;
  const thresholds = Object.fromEntries(
    thresholdGates.map((gate) => [
      gate.label,
      percent(results.filter((trial) => trial.threshold[gate.label] === "failed").length, count),
    ]),
  );
  return { label, trials: count, compare, thresholdFailedPercent: thresholds };
}

const started = performance.now();
random = mulberry32(Number(args.seed));
const falseAlarms = scenario("good version (no shift)", () => 0, Math.max(trials, 1000) * 2);
const detection = [0.1, 0.2, 0.3, 0.5].map((shift) =>
  scenario(`+${Math.round(shift * 100)} % from the start`, () => shift, trials),
);
const fleet170 = scenario("1.7.0 shape: 40 % where the fleet runs 25 % (+60 %)", () => 0.6, trials);

// Delayed onset: fine for the first minutes, then +50 %. The onset minute shows in the data at
// evaluation onset+1 (its bucket has ended and the ingestion delay has passed).
const onset = model.delayedOnsetMinute;
const onsetTrials = Array.from({ length: trials }, () => runTrial((m) => (m >= onset ? 0.5 : 0)));
const delayed = {
  label: `+50 % from minute ${onset} (delayed onset)`,
  trials,
  compare: Object.fromEntries(
    variants.map((variant) => {
      const delays = onsetTrials
        .flatMap((trial) => {
          const at = trial.failedAt[variant.key];
          return at === undefined ? [] : [at - (onset + 1)];
        })
        .sort((a, b) => a - b);
      return [
        variant.key,
        {
          detectedPercent: percent(delays.length, trials),
          intervalsFromOnsetInDataToFailure: {
            median: delays[delays.length >> 1] ?? null,
            p95: delays[Math.min(delays.length - 1, Math.floor(delays.length * 0.95))] ?? null,
            max: delays.at(-1) ?? null,
          },
        },
      ];
    }),
  ) as Record<
    VariantKey,
    {
      detectedPercent: number;
      intervalsFromOnsetInDataToFailure: { median: number | null; p95: number | null; max: number | null };
    }
  >,
};
const seconds = Math.round((performance.now() - started) / 100) / 10;

const result = {
  ranAt: new Date().toISOString(),
  seed: Number(args.seed),
  runSeconds: seconds,
  model,
  compareGate: compareSpec,
  variants,
  thresholdGates: thresholdGates.map((gate) => ({
    label: gate.label,
    max: gate.spec.max,
    windowSeconds: gate.spec.windowSeconds,
  })),
  goals: { falseRollbackPercentMax: 1, detectionAt30PercentMin: 99, delayIntervalsMax: 2 },
  falseAlarms,
  detection,
  fleet170,
  delayed,
};
await writeFile(args.out, `${JSON.stringify(result, null, 2)}\n`);

const rows = [falseAlarms, ...detection, fleet170].map((row) => ({
  scenario: row.label,
  trials: row.trials,
  ...Object.fromEntries(
    variants.flatMap((variant) => [
      [`${variant.key} failed %`, row.compare[variant.key].failedPercent],
      [`${variant.key} first fail`, row.compare[variant.key].medianEvaluationOfFirstFailure ?? "-"],
    ]),
  ),
  ...Object.fromEntries(
    Object.entries(row.thresholdFailedPercent).map(([label, value]) => [`${label} failed %`, value]),
  ),
}));
console.table(rows);
for (const variant of variants) {
  const { detectedPercent, intervalsFromOnsetInDataToFailure: d } = delayed.compare[variant.key];
  console.log(
    `${delayed.label}, ${variant.label}: detected ${detectedPercent} %, intervals from onset in the data to the failing verdict: median ${d.median}, p95 ${d.p95}, max ${d.max}`,
  );
}
console.log(`ran in ${seconds} s; wrote ${args.out}`);
