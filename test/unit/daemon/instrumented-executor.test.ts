import { describe, expect, it } from "vitest";
import { instrumentExecutor } from "../../../src/daemon/instrumented-executor.ts";
import type { Effect } from "../../../src/domain/effects.ts";
import type { EffectContext, EffectStep } from "../../../src/effects/effect-executor.ts";

const gateEffect: Effect = {
  id: "r3e0",
  kind: "evaluateGates",
  scaleSetId: "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/virtualMachineScaleSets/a",
  instanceIds: ["0"],
  gates: [{ kind: "instanceHealth", onInconclusive: "fail" }],
  maxUnhealthyPercent: 0,
  since: "2026-11-27T00:00:00.000Z",
  attempt: 0,
};
const context = { rolloutId: "ro-1", now: () => new Date() } as unknown as EffectContext;

function recorder() {
  const calls = { steps: [] as string[], gates: [] as string[] };
  return {
    calls,
    metrics: {
      stepDuration: (step: string, seconds: number) => {
        expect(seconds).toBeGreaterThanOrEqual(0);
        calls.steps.push(step);
      },
      gateResult: (gate: string, verdict: string) => calls.gates.push(`${gate}:${verdict}`),
    },
  };
}

describe("executor instrumentation", () => {
  it("records each gate verdict and the step's duration by effect kind", async () => {
    const { calls, metrics } = recorder();
    const step: EffectStep = {
      done: true,
      outcome: {
        type: "gates.evaluated",
        scaleSetId: gateEffect.kind === "evaluateGates" ? gateEffect.scaleSetId : "",
        verdict: "failed",
        results: [
          {
            gate: "instanceHealth",
            name: "instanceHealth",
            verdict: "passed",
            summary: "",
            measuredAt: "",
            instanceIds: [],
            evidence: {},
          },
          {
            gate: "bootDiagnostics",
            name: "bootDiagnostics",
            verdict: "failed",
            summary: "",
            measuredAt: "",
            instanceIds: [],
            evidence: {},
          },
        ],
      },
    };
    const result = await instrumentExecutor(async () => step, metrics)(gateEffect, context);
    expect(result).toBe(step);
    expect(calls.gates).toEqual(["instanceHealth:passed", "bootDiagnostics:failed"]);
    expect(calls.steps).toEqual(["evaluateGates"]);
  });

  it("still records the duration when the executor throws, and rethrows", async () => {
    const { calls, metrics } = recorder();
    const failing = instrumentExecutor(async () => {
      throw new Error("ARM said 503");
    }, metrics);
    await expect(failing(gateEffect, context)).rejects.toThrow("ARM said 503");
    expect(calls.steps).toEqual(["evaluateGates"]);
    expect(calls.gates).toEqual([]);
  });
});
