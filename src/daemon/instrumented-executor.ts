/**
 * Prometheus instrumentation around the effect executor: how long each effect step took, by kind,
 * and every gate verdict. A decorator, so neither the engine nor the gates know about metrics.
 */
import { performance } from "node:perf_hooks";
import type { CanarydMetrics } from "../api/metrics.ts";
import type { ExecuteEffect } from "../effects/effect-executor.ts";

export function instrumentExecutor(
  execute: ExecuteEffect,
  metrics: Pick<CanarydMetrics, "stepDuration" | "gateResult">,
): ExecuteEffect {
  return async (effect, context) => {
    const started = performance.now();
    try {
      const step = await execute(effect, context);
      if (step.done && step.outcome.type === "gates.evaluated") {
        for (const result of step.outcome.results) metrics.gateResult(result.gate, result.verdict);
      }
      return step;
    } finally {
      metrics.stepDuration(effect.kind, (performance.now() - started) / 1000);
    }
  };
}
