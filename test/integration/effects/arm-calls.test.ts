/**
 * How many ARM calls a scale set's rollout costs through the effects: the model written once, one
 * updateInstances per batch, the instances observed with one paged list per step.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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

describe("ARM calls of a scale set's rollout", () => {
  it("writes the model once, issues one updateInstances per batch and nothing per instance but boot logs", async () => {
    // The default poll of 5 simulated seconds, at time scale 60.
    const config = { ...engineConfig, pollIntervalSeconds: 5 / 60 };
    const execute = createEffectExecutor({ azure: fleet.azure, config, allowLatestFor: [] });
    const scaleSetId = fleet.scaleSetId("web-a");
    const target = { id: fleet.versionId("1.1.0") };
    const rollout = spec({
      image: { galleryImageVersionId: target.id },
      waves: [{ name: "w", scaleSets: [scaleSetId] }],
    });
    const gates: GateSpec[] = [
      { kind: "instanceHealth", onInconclusive: "fail" },
      { kind: "bootDiagnostics", failOn: [], onInconclusive: "fail" },
    ];
    const batches = [["0"], ["2", "3"], ["7", "9"]];
    fleet.sim.clearRequestLog();

    const preflight = await drive(execute, { kind: "preflight" }, { spec: rollout });
    expect(preflight.outcome.type).toBe("preflight.passed");
    const model = await drive(
      execute,
      { kind: "setModelImage", scaleSetId, target, previous: { id: fleet.versionId("1.0.0") } },
      { spec: rollout },
    );
    expect(model.outcome.type).toBe("model.updated");
    for (const instanceIds of batches) {
      const upgraded = await drive(
        execute,
        { kind: "upgradeInstances", scaleSetId, instanceIds, image: target, purpose: "rollout" },
        { spec: rollout },
      );
      expect(upgraded.outcome.type).toBe("instances.upgraded");
      const gated = await drive(
        execute,
        {
          kind: "evaluateGates",
          scaleSetId,
          instanceIds,
          gates,
          maxUnhealthyPercent: 0,
          since: new Date().toISOString(),
          attempt: 0,
        },
        { spec: rollout },
      );
      expect(gated.outcome).toMatchObject({ type: "gates.evaluated", verdict: "passed" });
    }

    const arm = fleet.sim
      .requestLog()
      .filter(
        (entry) => !entry.operation.startsWith("admin.") && entry.operation !== "bootDiagnostics.download",
      );
    const byOperation = Object.fromEntries(
      [...new Set(arm.map((entry) => entry.operation))].map((operation) => [
        operation,
        arm.filter((entry) => entry.operation === operation).length,
      ]),
    );
    expect(byOperation["virtualMachineScaleSets.update"]).toBe(1);
    expect(byOperation["virtualMachineScaleSets.updateInstances"]).toBe(batches.length);
    expect(byOperation["virtualMachineScaleSetVMs.retrieveBootDiagnosticsData"]).toBe(5);
    console.info(
      `ARM calls for 5 upgraded instances in 3 batches (preflight, model, upgrades, instanceHealth + bootDiagnostics gates): ${arm.length} = ${(arm.length / 5).toFixed(1)} per instance; by operation ${JSON.stringify(byOperation)}`,
    );
  });
});
