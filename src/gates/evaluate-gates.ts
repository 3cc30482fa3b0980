/**
 * Runs a batch's gates: reads what each gate needs (one instance listing shared by all, ONE
 * metrics call per region and namespace for every metric and compare gate, one boot log per
 * instance) and judges it. The verdict: any failed gate fails the batch; otherwise any
 * inconclusive one makes it inconclusive. Each result carries the gate's name (gateName).
 * Read-only: a crash mid-evaluation loses nothing; the engine runs the effect again.
 */
import type { AzureAdapters } from "../azure/adapters.ts";
import type { MetricQueryResult } from "../azure/metrics.ts";
import type { GateJudgement, GateResult, GateVerdict } from "../domain/effects.ts";
import type { InstanceFacts } from "../domain/fleet.ts";
import { type GateSpec, gateName } from "../domain/spec.ts";
import { judgeBootLogs, type SerialLogRead } from "./boot-diagnostics.ts";
import { compareLooks } from "./compare/fetch.ts";
import { judgeCompareLooks } from "./compare/judge.ts";
import { judgeInstanceHealth } from "./instance-health.ts";
import { judgeMetric } from "./metric.ts";
import {
  dataEnd,
  type EvaluationWindows,
  earliestRead,
  evaluationWindows,
  fetchGateMetrics,
  type MetricBasedGate,
  requiredCoverageSeconds,
} from "./metric-windows.ts";

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
  /** The continuous-analysis fields of the evaluateGates effect (src/domain/effects.ts). */
  baselineInstanceIds?: string[];
  upgradedAt?: Record<string, string>;
  final?: boolean;
  requiredCoverageSeconds?: number;
  /** Told how many metrics:getBatch calls this evaluation made (for /metrics). */
  onMetricsCalls?: (calls: number) => void;
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
  const metricReads = await readMetrics(input, instances);
  const results: GateResult[] = [];
  for (const gate of input.gates) {
    let judgement: GateJudgement;
    switch (gate.kind) {
      case "instanceHealth":
        judgement = judgeInstanceHealth({
          instanceIds: input.instanceIds,
          instances,
          maxUnhealthyPercent: input.maxUnhealthyPercent,
          measuredAt: input.now().toISOString(),
        });
        break;
      case "bootDiagnostics":
        judgement = judgeBootLogs({
          instanceIds: input.instanceIds,
          logs: await readSerialLogs(input),
          failOn: gate.failOn,
          measuredAt: input.now().toISOString(),
        });
        break;
      case "metric":
      case "compare":
        judgement = judgeMetricBased(input, gate, instances, metricReads);
        break;
    }
    results.push({ ...judgement, name: gateName(gate) });
  }
  return { verdict: combineVerdicts(results), results };
}

interface MetricReads {
  windows: EvaluationWindows;
  measuredAt: string;
  byNamespace: Map<string, MetricQueryResult | Error>;
}

async function readMetrics(
  input: GateEvaluationInput,
  instances: InstanceFacts[],
): Promise<MetricReads | undefined> {
  const gates = input.gates.filter(
    (gate): gate is MetricBasedGate => gate.kind === "metric" || gate.kind === "compare",
  );
  if (gates.length === 0) {
    input.onMetricsCalls?.(0);
    return undefined;
  }
  const now = input.now();
  const windows = evaluationWindows({
    now,
    ingestionDelaySeconds: input.azure.metrics.ingestionDelaySeconds,
    since: input.since,
    instanceIds: input.instanceIds,
    ...(input.upgradedAt ? { upgradedAt: input.upgradedAt } : {}),
  });
  const { byNamespace, calls } = await fetchGateMetrics(input.azure.metrics, {
    region: input.location,
    scaleSetId: input.scaleSetId,
    gates,
    start: earliestRead(windows, gates),
    // The query ends now (Azure serves what it has); the gates count only minutes ended by the cutoff.
    end: now.getTime(),
    top: Math.max(instances.length, input.instanceIds.length),
    ...(input.signal ? { signal: input.signal } : {}),
  });
  input.onMetricsCalls?.(calls);
  return { windows, measuredAt: now.toISOString(), byNamespace };
}

function judgeMetricBased(
  input: GateEvaluationInput,
  gate: MetricBasedGate,
  instances: InstanceFacts[],
  reads: MetricReads | undefined,
): GateJudgement {
  if (!reads) throw new Error("metrics were not read for a metric-based gate");
  const { windows, measuredAt } = reads;
  const byId = new Map(instances.map((instance) => [instance.instanceId, instance]));
  const named = (instanceId: string) => ({ instanceId, name: byId.get(instanceId)?.name ?? instanceId });
  const batch = input.instanceIds.map(named);
  const coverage = {
    seconds: windows.coveredSeconds,
    requiredSeconds: requiredCoverageSeconds(gate, input.requiredCoverageSeconds),
  };
  const final = input.final ?? false;
  const read = reads.byNamespace.get(gate.namespace);
  const end = dataEnd(windows);
  const endIso = new Date(end).toISOString();
  if (!read || read instanceof Error) {
    // Monitor unreachable or refusing: the gate cannot be evaluated now, which is not a pass.
    const reason = read?.message ?? "no answer";
    return {
      gate: gate.kind,
      verdict: "inconclusive",
      summary: `${gate.aggregation} ${gate.metric} could not be read: ${reason}`,
      measuredAt,
      instanceIds: input.instanceIds,
      evidence: { metric: gate.metric, dataUntil: endIso, error: reason },
    };
  }
  const series = read.series.filter(
    (entry) =>
      (entry.metric === undefined || entry.metric.toLowerCase() === gate.metric.toLowerCase()) &&
      (entry.aggregation === undefined || entry.aggregation === gate.aggregation),
  );
  if (gate.kind === "metric") {
    const start = Math.max(Math.min(...windows.startOf.values()), end - gate.windowSeconds * 1000);
    return judgeMetric({
      spec: gate,
      instances: batch.map((instance) => ({
        ...instance,
        start: new Date(windows.startOf.get(instance.instanceId) ?? start).toISOString(),
      })),
      series,
      window: { start: new Date(start).toISOString(), end: endIso },
      errors: read.errors,
      measuredAt,
      final,
      coverage,
    });
  }
  const canaryIds = new Set(input.instanceIds);
  const baseline = (input.baselineInstanceIds ?? [])
    .filter((id) => !canaryIds.has(id) && byId.has(id))
    .map(named);
  return judgeCompareLooks(compareLooks({ spec: gate, windows, canary: batch, baseline, series }), {
    spec: gate,
    errors: read.errors,
    measuredAt,
    final,
    coverage,
  });
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
