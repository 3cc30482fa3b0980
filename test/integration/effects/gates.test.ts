/** Each gate fails on the demo version built to break it, and passes on the good one. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GateResult, GateVerdict } from "../../../src/domain/effects.ts";
import type { GateSpec } from "../../../src/domain/spec.ts";
import { createEffectExecutor } from "../../../src/effects/create-effect-executor.ts";
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
  { kind: "instanceHealth", onInconclusive: "fail" },
  { kind: "bootDiagnostics", failOn: [], onInconclusive: "fail" },
  {
    kind: "metric",
    metric: "Percentage CPU",
    namespace: "Microsoft.Compute/virtualMachineScaleSets",
    aggregation: "Average",
    windowSeconds: 300,
    max: 80,
    onInconclusive: "fail",
  },
];

/** Moves the scale set's canary instance to `version` through the effects, then evaluates every gate. */
async function canaryOn(scaleSet: string, instanceId: string, version: string, metricWindowSeconds = 300) {
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
    { spec: rollout },
  );
  const upgraded = await drive(
    execute,
    { kind: "upgradeInstances", scaleSetId, instanceIds: [instanceId], image: target, purpose: "rollout" },
    { spec: rollout },
  );
  expect(upgraded.outcome.type).toBe("instances.upgraded");
  const since = new Date().toISOString();
  // Monitor reports per-minute points: two simulated minutes on (two wall seconds at time scale
  // 60), the engine's clock sees the new image's minutes. The simulator takes a query's endtime
  // as the caller's now, so that clock must have moved as far as the simulated fleet has.
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const later = () => new Date(Date.parse(since) + 120_000);
  const { outcome } = await drive(
    execute,
    {
      kind: "evaluateGates",
      scaleSetId,
      instanceIds: [instanceId],
      gates: gates.map((gate) =>
        gate.kind === "metric" ? { ...gate, windowSeconds: metricWindowSeconds } : gate,
      ),
      maxUnhealthyPercent: 0,
      since,
      attempt: 0,
    },
    { spec: rollout, now: later },
  );
  if (outcome.type !== "gates.evaluated") throw new Error(outcome.type);
  const verdicts = Object.fromEntries(
    outcome.results.map((result) => [result.gate, result.verdict]),
  ) as Record<GateResult["gate"], GateVerdict>;
  const result = (gate: GateResult["gate"]) =>
    outcome.results.find((entry) => entry.gate === gate) as GateResult;
  return { outcome, verdicts, result };
}

describe("gates on the demo versions", () => {
  it("1.1.0 passes every gate, with evidence", async () => {
    const { outcome, verdicts, result } = await canaryOn("web-d", "1", "1.1.0");
    expect(outcome.verdict).toBe("passed");
    expect(verdicts).toEqual({ instanceHealth: "passed", bootDiagnostics: "passed", metric: "passed" });
    expect(result("metric").evidence).toMatchObject({
      threshold: { max: 80 },
      values: [{ instanceId: "1", vmName: "web-d_1" }],
    });
  });

  it("1.2.0 fails bootDiagnostics on the kernel panic line", async () => {
    const { outcome, result } = await canaryOn("web-a", "0", "1.2.0");
    expect(outcome.verdict).toBe("failed");
    const boot = result("bootDiagnostics");
    expect(boot.verdict).toBe("failed");
    expect(boot.evidence.matches).toEqual([
      expect.objectContaining({
        instanceId: "0",
        pattern: "kernel panic",
        line: expect.stringMatching(/Kernel panic/),
      }),
    ]);
    expect(JSON.stringify(outcome)).not.toMatch(/sig=|[?&]se=/);
  });

  it("1.3.0 fails instanceHealth on Application Health, as an image problem", async () => {
    const { outcome, result } = await canaryOn("web-b", "0", "1.3.0");
    expect(outcome.verdict).toBe("failed");
    const health = result("instanceHealth");
    expect(health).toMatchObject({ verdict: "failed", platformFailure: false });
    expect(health.summary).toContain("Application Health unhealthy");
  });

  it("1.4.0 fails the metric gate (Percentage CPU above 80) with the measured value", async () => {
    const { outcome, verdicts, result } = await canaryOn("web-c", "0", "1.4.0");
    expect(outcome.verdict).toBe("failed");
    expect(verdicts).toEqual({ instanceHealth: "passed", bootDiagnostics: "passed", metric: "failed" });
    const value = (result("metric").evidence.values as { value: number }[])[0]?.value ?? 0;
    expect(value).toBeGreaterThan(85);
  });

  it("a one-minute metric window judges the newest complete minute: it ends on a minute boundary", async () => {
    // The evaluation's clock is mid-minute: a window ending there would hold no whole minute.
    // web-c: its model is 1.0.0, or already 1.4.0 after the test above; either is accepted.
    const { verdicts, result } = await canaryOn("web-c", "1", "1.4.0", 60);
    expect(verdicts.metric).toBe("failed");
    const { window, values } = result("metric").evidence as {
      window: { start: string; end: string };
      values: { value: number; points: number }[];
    };
    expect(values[0]).toMatchObject({ points: 1 });
    expect(values[0]?.value).toBeGreaterThan(85);
    expect(Date.parse(window.end) % 60_000).toBe(0);
    expect(Date.parse(window.end) - Date.parse(window.start)).toBe(60_000);
  });

  it("a serial log that cannot be downloaded makes bootDiagnostics inconclusive, with the SAS redacted", async () => {
    const execute = createEffectExecutor({ azure: fleet.azure, config: engineConfig, allowLatestFor: [] });
    const scaleSetId = fleet.scaleSetId("web-b");
    const rollout = spec({
      image: { galleryImageVersionId: fleet.versionId("1.1.0") },
      waves: [{ name: "w", scaleSets: [scaleSetId] }],
    });
    fleet.sim.addFault({ kind: "serverError", operation: "bootDiagnostics.download", status: 500, count: 5 });
    try {
      const { outcome } = await drive(
        execute,
        {
          kind: "evaluateGates",
          scaleSetId,
          instanceIds: ["2"],
          gates: [gates[1] as GateSpec],
          maxUnhealthyPercent: 0,
          since: new Date().toISOString(),
          attempt: 0,
        },
        { spec: rollout },
      );
      expect(outcome).toMatchObject({ type: "gates.evaluated", verdict: "inconclusive" });
      const text = JSON.stringify(outcome);
      expect(text).toContain("serialconsole.log failed: HTTP 500");
      expect(text).not.toMatch(/sig=|[?&]se=|\?/);
    } finally {
      fleet.sim.clearFaults();
    }
  });

  it("a metric gate without data yet is inconclusive, not passed", async () => {
    const execute = createEffectExecutor({ azure: fleet.azure, config: engineConfig, allowLatestFor: [] });
    const scaleSetId = fleet.scaleSetId("web-b");
    const rollout = spec({
      image: { galleryImageVersionId: fleet.versionId("1.1.0") },
      waves: [{ name: "w", scaleSets: [scaleSetId] }],
    });
    const now = new Date();
    const { outcome } = await drive(
      execute,
      {
        kind: "evaluateGates",
        scaleSetId,
        instanceIds: ["1"],
        gates: [gates[2] as GateSpec],
        maxUnhealthyPercent: 0,
        // The batch "finished" a second ago: no whole minute of data since.
        since: new Date(now.getTime() - 1000).toISOString(),
        attempt: 0,
      },
      { spec: rollout, now: () => now },
    );
    expect(outcome).toMatchObject({ type: "gates.evaluated", verdict: "inconclusive" });
  });
});
