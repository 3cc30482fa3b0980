/**
 * Runs a batch's gates: reads what each gate needs (one instance listing shared by all, one
 * metrics call per metric gate, one boot log per instance) and judges it. The verdict: any
 * failed gate fails the batch; otherwise any inconclusive one makes it inconclusive.
 */
import type { AzureAdapters } from "../azure/adapters.ts";
import { AzureAdapterError } from "../azure/errors.ts";
import type { GateResult, GateVerdict } from "../domain/effects.ts";
import type { InstanceFacts } from "../domain/fleet.ts";
import type { GateSpec } from "../domain/spec.ts";
import { judgeBootLogs, type SerialLogRead } from "./boot-diagnostics.ts";
import { judgeInstanceHealth } from "./instance-health.ts";
import { judgeMetric, type MetricGateSpec } from "./metric.ts";

export interface GateEvaluationInput {
  azure: Pick<AzureAdapters, "compute" | "metrics" | "bootDiagnostics">;
  scaleSetId: string;
  /** Short region name of the scale set (metrics are queried regionally). */
  location: string;
  instanceIds: string[];
  gates: GateSpec[];
  maxUnhealthyPercent: number;
  /** When the batch finished upgrading: metric windows start no earlier. */
  since: string;
  now: () => Date;
  signal?: AbortSignal;
  /** Boot logs read at the same time (default 8). */
  bootLogConcurrency?: number;
}

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
  const results: GateResult[] = [];
  for (const gate of input.gates) {
    switch (gate.kind) {
      case "instanceHealth":
        results.push(
          judgeInstanceHealth({
            instanceIds: input.instanceIds,
            instances,
            maxUnhealthyPercent: input.maxUnhealthyPercent,
            measuredAt: input.now().toISOString(),
          }),
        );
        break;
      case "bootDiagnostics": {
        const logs = await readSerialLogs(input);
        results.push(
          judgeBootLogs({
            instanceIds: input.instanceIds,
            logs,
            failOn: gate.failOn,
            measuredAt: input.now().toISOString(),
          }),
        );
        break;
      }
      case "metric":
        results.push(await evaluateMetricGate(input, gate, instances));
        break;
    }
  }
  return { verdict: combineVerdicts(results), results };
}

async function readSerialLogs(input: GateEvaluationInput): Promise<SerialLogRead[]> {
  const queue = [...input.instanceIds];
  const logs: SerialLogRead[] = [];
  const worker = async () => {
    for (let instanceId = queue.shift(); instanceId !== undefined; instanceId = queue.shift()) {
      try {
        const log = await input.azure.bootDiagnostics.readSerialLog(
          input.scaleSetId,
          instanceId,
          input.signal,
        );
        logs.push(log);
      } catch (error) {
        logs.push({ instanceId, error: error instanceof Error ? error.message : String(error) });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(input.bootLogConcurrency ?? 8, queue.length) }, worker));
  return logs.sort(
    (a, b) => input.instanceIds.indexOf(a.instanceId) - input.instanceIds.indexOf(b.instanceId),
  );
}

async function evaluateMetricGate(
  input: GateEvaluationInput,
  gate: MetricGateSpec,
  instances: InstanceFacts[],
): Promise<GateResult> {
  const end = input.now();
  const earliest = Date.parse(input.since);
  const start = new Date(
    Math.max(end.getTime() - gate.windowSeconds * 1000, Number.isNaN(earliest) ? 0 : earliest),
  );
  const window = { start: start.toISOString(), end: end.toISOString() };
  const byId = new Map(instances.map((instance) => [instance.instanceId, instance]));
  const batch = input.instanceIds.map((instanceId) => ({
    instanceId,
    name: byId.get(instanceId)?.name ?? instanceId,
  }));
  try {
    const { series, errors } = await input.azure.metrics.queryScaleSetMetric({
      region: input.location,
      scaleSetIds: [input.scaleSetId],
      metric: gate.metric,
      namespace: gate.namespace,
      aggregation: gate.aggregation,
      start,
      end,
      interval: "PT1M",
      top: Math.max(instances.length, input.instanceIds.length),
      ...(input.signal ? { signal: input.signal } : {}),
    });
    return judgeMetric({
      spec: gate,
      instances: batch,
      series,
      window,
      errors,
      measuredAt: end.toISOString(),
    });
  } catch (error) {
    // Monitor unreachable or refusing: the gate cannot be evaluated now, which is not a pass.
    const reason =
      error instanceof AzureAdapterError || error instanceof Error ? error.message : String(error);
    return {
      gate: "metric",
      verdict: "inconclusive",
      summary: `${gate.aggregation} ${gate.metric} could not be read: ${reason}`,
      measuredAt: end.toISOString(),
      instanceIds: input.instanceIds,
      evidence: { metric: gate.metric, window, error: reason },
    };
  }
}
