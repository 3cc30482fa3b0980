/**
 * Runs a batch's gates through their providers (./registry.ts): reads what gates share once (one
 * instance listing for all, ONE metrics call per region and namespace for every provider that
 * declares `metrics`), then each provider reads what else it needs and judges. The verdict: any
 * failed gate fails the batch; otherwise any inconclusive one makes it inconclusive. Each result
 * carries the gate's name (gateName). A provider that throws fails the effect (the engine's retry
 * policy judges the error); providers turn what they expect (an unreadable log, a 5xx) into an
 * inconclusive gate themselves.
 * Read-only: a crash mid-evaluation loses nothing; the engine runs the effect again.
 */
import type { GateResult, GateVerdict } from "../domain/effects.ts";
import { gateName } from "../domain/spec.ts";
import { readMetrics } from "./metric-windows.ts";
import type { GateEvaluationInput, GateRun } from "./provider.ts";
import { gateProvider } from "./registry.ts";

export type { GateEvaluationInput } from "./provider.ts";

export interface GateEvaluation {
  verdict: GateVerdict;
  results: GateResult[];
}

export function combineVerdicts(results: GateResult[]): GateVerdict {
  if (results.some((result) => result.verdict === "failed")) return "failed";
  if (results.some((result) => result.verdict === "inconclusive")) return "inconclusive";
  return "passed";
}

export async function evaluateGates(input: GateEvaluationInput): Promise<GateEvaluation> {
  const instances = await input.azure.compute.listInstances(input.scaleSetId, input.signal);
  const metricNeeds = input.gates.flatMap((gate) => {
    const need = gateProvider(gate.kind).metrics;
    return need
      ? [
          (windows: Parameters<typeof need.earliestRead>[1]) => ({
            ...need.series(gate),
            start: need.earliestRead(gate, windows),
          }),
        ]
      : [];
  });
  const metrics = await readMetrics(input, instances, metricNeeds);
  const run: GateRun = { ...input, instances, ...(metrics ? { metrics } : {}) };
  const results: GateResult[] = [];
  for (const gate of input.gates) {
    const judgement = await gateProvider(gate.kind).judge(gate, run);
    results.push({ ...judgement, name: gateName(gate) });
  }
  return { verdict: combineVerdicts(results), results };
}
