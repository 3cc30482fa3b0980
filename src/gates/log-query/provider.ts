/**
 * The logQuery gate kind: a KQL query against a Log Analytics workspace or a resource over the
 * evaluation's window, judged by ./judge.ts. Read-only: a re-run queries again.
 *
 * Window: it ends `ingestionDelaySeconds` before now (records arrive late) and reaches back
 * `lookbackSeconds`, never before the batch came back (its earliest return): rows the old image
 * wrote are not the new one's. While the window is still empty (the batch came back less than the
 * ingestion delay ago) the gate is inconclusive and says when it will have data.
 *
 * The batch reaches the query only through placeholders (./placeholders.ts): the computer names
 * (`osProfile.computerName`, the `Computer` column of Syslog and Heartbeat) of the evaluated
 * instances and of the baseline (the effect's baseline instances, or else the scale set's other
 * instances), and the window as datetimes. An instance without a computer name makes the gate
 * inconclusive, naming it: a query that silently left it out could pass on nothing.
 */
import type { GateJudgement } from "../../domain/effects.ts";
import type { GateProvider, GateRun } from "../provider.ts";
import { judgeLogQuery } from "./judge.ts";
import { PlaceholderError, substitutePlaceholders } from "./placeholders.ts";
import { type LogQueryGateSpec, logQueryGateSchema } from "./schema.ts";

export const logQueryGate: GateProvider<typeof logQueryGateSchema> = {
  kind: "logQuery",
  schema: logQueryGateSchema,
  docs: "logquery",
  simulator: ["logs.queryWorkspace", "logs.queryResource", "virtualMachineScaleSetVMs.list"],
  judge: judgeLogQueryGate,
};

/** The window the query covers (epoch ms), or when it will hold data. */
export function logWindow(
  spec: LogQueryGateSpec,
  run: Pick<GateRun, "now" | "since" | "instanceIds" | "upgradedAt">,
) {
  const now = run.now().getTime();
  const returns = run.instanceIds.map((id) => Date.parse(run.upgradedAt?.[id] ?? run.since));
  const known = returns.filter((at) => !Number.isNaN(at));
  const batchStart = Math.min(...known, Date.parse(run.since));
  /** The latest return: the least-covered instance's logs start there. */
  const lastReturn = Math.max(...known, batchStart);
  const end = now - spec.ingestionDelaySeconds * 1000;
  const start = Math.max(end - spec.lookbackSeconds * 1000, batchStart);
  const coveredSeconds = Math.max(0, Math.round((end - lastReturn) / 1000));
  return { start, end, batchStart, now, coveredSeconds };
}

export async function judgeLogQueryGate(spec: LogQueryGateSpec, run: GateRun): Promise<GateJudgement> {
  const { start, end, batchStart, now, coveredSeconds } = logWindow(spec, run);
  const measuredAt = new Date(now).toISOString();
  const base = { gate: "logQuery" as const, measuredAt, instanceIds: run.instanceIds };
  const label = spec.name ?? "logQuery";
  const window = { start: new Date(start).toISOString(), end: new Date(end).toISOString() };
  if (end <= start)
    return {
      ...base,
      verdict: "inconclusive",
      summary: `${label}: no complete logs since the batch came back yet (records are complete ${spec.ingestionDelaySeconds} s late: from ${new Date(batchStart + spec.ingestionDelaySeconds * 1000).toISOString()})`,
      evidence: { window, ingestionDelaySeconds: spec.ingestionDelaySeconds },
    };
  const byId = new Map(run.instances.map((instance) => [instance.instanceId, instance]));
  const batch = new Set(run.instanceIds);
  const unnamed = run.instanceIds.filter((id) => !byId.get(id)?.computerName);
  if (unnamed.length > 0)
    return {
      ...base,
      verdict: "inconclusive",
      summary: `${label}: no computer name for instance(s) ${unnamed.join(", ")} (not listed, or no osProfile.computerName)`,
      evidence: { window, instancesWithoutComputerName: unnamed },
    };
  const canaryComputers = run.instanceIds.map((id) => byId.get(id)?.computerName ?? "");
  const baselineIds =
    run.baselineInstanceIds ?? run.instances.map((i) => i.instanceId).filter((id) => !batch.has(id));
  const baselineComputers = baselineIds.flatMap((id) => byId.get(id)?.computerName ?? []);
  let query: string;
  try {
    query = substitutePlaceholders(spec.query, {
      canaryComputers,
      baselineComputers,
      start: new Date(start),
      end: new Date(end),
    });
  } catch (error) {
    if (!(error instanceof PlaceholderError)) throw error;
    return {
      ...base,
      verdict: "inconclusive",
      summary: `${label}: ${error.message}`,
      evidence: { window, code: error.code, error: error.message },
    };
  }
  const logs = run.azure.logs;
  let answer: Parameters<typeof judgeLogQuery>[0]["answer"];
  if (!logs) answer = { unanswered: "no Log Analytics client is configured" };
  else
    try {
      answer = await logs.query({
        target: spec.workspaceId ? { workspaceId: spec.workspaceId } : { resourceId: spec.resourceId ?? "" },
        query,
        start: new Date(start),
        end: new Date(end),
        ...(run.signal ? { signal: run.signal } : {}),
      });
    } catch (error) {
      answer = { unanswered: error instanceof Error ? error.message : String(error) };
    }
  return judgeLogQuery({
    spec,
    query,
    window,
    answer,
    measuredAt,
    instanceIds: run.instanceIds,
    canaryComputers,
    final: run.final ?? false,
    coverage: {
      seconds: coveredSeconds,
      requiredSeconds: Math.min(spec.lookbackSeconds, run.requiredCoverageSeconds ?? spec.lookbackSeconds),
    },
  });
}
