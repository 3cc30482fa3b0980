/**
 * The compare gate through the effect executor, the real metrics SDK and the simulator: a canary
 * on 1.4.0 (CPU ~95 %) fails against its neighbours still on 1.0.0 (~27 %), with the shift and the
 * interval in the evidence; 1.1.0 (~25 %) passes; every metric-based gate of one evaluation is
 * read with ONE metrics:getBatch call.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GateSpec } from "../../../src/domain/spec.ts";
import { createEffectExecutor } from "../../../src/effects/create-effect-executor.ts";
import { acceleratedClock } from "../../../src/engine/core/clock.ts";
import { type DemoFleet, startDemoFleet } from "../azure/demo-simulator.ts";
import { drive, engineConfig, spec } from "./drive-effect.ts";

let fleet: DemoFleet;
beforeAll(async () => {
  fleet = await startDemoFleet({ timeScale: 60 });
});
afterAll(async () => {
  await fleet?.close();
});

const gates: GateSpec[] = [
  {
    kind: "metric",
    metric: "Percentage CPU",
    namespace: "Microsoft.Compute/virtualMachineScaleSets",
    aggregation: "Average",
    windowSeconds: 300,
    max: 99,
    onInconclusive: "fail",
  },
  {
    name: "cpu-vs-baseline",
    kind: "compare",
    metric: "Percentage CPU",
    namespace: "Microsoft.Compute/virtualMachineScaleSets",
    aggregation: "Average",
    direction: "increase",
    tolerancePercent: 20,
    confidence: 0.98,
    onInconclusive: "fail",
  },
];

/** The engine's clock, accelerated like the simulator's fleet (which takes a query's endtime as it). */
const clock = acceleratedClock(60);
const upgrades = new Map<string, string>();

/** Moves one instance of `scaleSet` to `version` through the effects; remembers when it came back. */
async function upgrade(scaleSet: string, canaryId: string, version: string) {
  const execute = createEffectExecutor({ azure: fleet.azure, config: engineConfig, allowLatestFor: [] });
  const scaleSetId = fleet.scaleSetId(scaleSet);
  const target = { id: fleet.versionId(version) };
  const rollout = spec({
    image: { galleryImageVersionId: target.id },
    waves: [{ name: "w", scaleSets: [scaleSetId] }],
  });
  await drive(
    execute,
    { kind: "setModelImage", scaleSetId, target, previous: { id: fleet.versionId("1.0.0") } },
    { spec: rollout, now: () => clock.now() },
  );
  const upgraded = await drive(
    execute,
    { kind: "upgradeInstances", scaleSetId, instanceIds: [canaryId], image: target, purpose: "rollout" },
    { spec: rollout, now: () => clock.now() },
  );
  expect(upgraded.outcome.type).toBe("instances.upgraded");
  upgrades.set(`${scaleSet}/${canaryId}`, clock.now().toISOString());
}

beforeAll(async () => {
  await Promise.all([
    upgrade("web-c", "0", "1.4.0"),
    upgrade("web-b", "0", "1.1.0"),
    upgrade("web-a", "0", "1.4.0"),
  ]);
  // Seven simulated minutes on the new image (seven wall seconds at time scale 60).
  await new Promise((resolve) => setTimeout(resolve, 7_000));
}, 60_000);

async function canaryAgainstNeighbours(
  scaleSet: string,
  canaryId: string,
  baselineIds: string[],
  version: string,
) {
  const metricsCalls: number[] = [];
  const execute = createEffectExecutor({
    azure: fleet.azure,
    config: engineConfig,
    allowLatestFor: [],
    onMetricsCalls: (calls) => metricsCalls.push(calls),
  });
  const scaleSetId = fleet.scaleSetId(scaleSet);
  const rollout = spec({
    image: { galleryImageVersionId: fleet.versionId(version) },
    waves: [{ name: "w", scaleSets: [scaleSetId] }],
  });
  const since = upgrades.get(`${scaleSet}/${canaryId}`) ?? "";
  const before = fleet.calls.filter((call) => call.operation.includes("getBatch")).length;
  const { outcome } = await drive(
    execute,
    {
      kind: "evaluateGates",
      scaleSetId,
      instanceIds: [canaryId],
      gates,
      maxUnhealthyPercent: 0,
      since,
      attempt: 0,
      baselineInstanceIds: baselineIds,
      upgradedAt: { [canaryId]: since },
      final: true,
      requiredCoverageSeconds: 300,
    },
    { spec: rollout, now: () => clock.now() },
  );
  if (outcome.type !== "gates.evaluated") throw new Error(outcome.type);
  const getBatchCalls = fleet.calls.filter((call) => call.operation.includes("getBatch")).length - before;
  const compare = outcome.results.find((result) => result.name === "cpu-vs-baseline");
  if (!compare) throw new Error("no compare result");
  return { outcome, compare, metricsCalls, getBatchCalls };
}

describe("compare gate against the simulator", () => {
  it("1.4.0 fails against neighbours on 1.0.0, naming the shift and the interval; one metrics call for both gates", async () => {
    const { outcome, compare, metricsCalls, getBatchCalls } = await canaryAgainstNeighbours(
      "web-c",
      "0",
      ["1", "2", "3"],
      "1.4.0",
    );
    expect(compare).toMatchObject({
      gate: "compare",
      name: "cpu-vs-baseline",
      verdict: "failed",
      instanceIds: ["0"],
    });
    expect(compare.summary).toMatch(/higher than the baseline instances beyond the 20 % tolerance/);
    expect(compare.summary).toMatch(/98 % interval \[/);
    const evidence = compare.evidence as {
      baselineKind: string;
      baseline: { instances: { instanceId: string; points: number }[] };
      test: { effectPercent: number; interval: { lower: number } };
    };
    expect(evidence.baselineKind).toBe("instances");
    expect(evidence.baseline.instances.map((instance) => instance.instanceId)).toEqual(["1", "2", "3"]);
    expect(evidence.baseline.instances.every((instance) => instance.points >= 5)).toBe(true);
    expect(evidence.test.effectPercent).toBeGreaterThan(150);
    // The max-99 metric gate passes the same canary: only the comparison sees it.
    expect(outcome.results.find((result) => result.gate === "metric")?.verdict).toBe("passed");
    expect(outcome.verdict).toBe("failed");
    expect(metricsCalls).toEqual([1]);
    expect(getBatchCalls).toBe(1);
  });

  it("1.1.0 passes against neighbours on 1.0.0", async () => {
    const { compare } = await canaryAgainstNeighbours("web-b", "0", ["1", "2", "3"], "1.1.0");
    expect(compare.verdict).toBe("passed");
    expect(compare.evidence.baselineKind).toBe("instances");
  });

  it("with fewer than two neighbours left, judges the canary against its own minutes before the upgrade", async () => {
    const { compare } = await canaryAgainstNeighbours("web-a", "0", ["2"], "1.4.0");
    expect(compare.verdict).toBe("failed");
    expect(compare.summary).toMatch(/higher than the same instances before the upgrade/);
    const evidence = compare.evidence as {
      baselineKind: string;
      window: { start: string };
      baselineWindow: { start: string; end: string };
      baseline: { instances: { instanceId: string; points: number }[] };
    };
    expect(evidence.baselineKind).toBe("beforeUpgrade");
    // The canary's own earlier minutes, ending before its upgrade, as many as it has since.
    expect(evidence.baseline.instances.map((instance) => instance.instanceId)).toEqual(["0"]);
    expect(Date.parse(evidence.baselineWindow.end)).toBeLessThan(Date.parse(evidence.window.start));
    expect(evidence.baseline.instances[0]?.points).toBeGreaterThanOrEqual(5);
  });
});
