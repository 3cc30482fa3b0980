/**
 * The bootDiagnostics gate kind: reads each batch instance's serial console log (a bounded number
 * at a time; an unreadable log is recorded, never thrown) and judges the lines. Read-only.
 */
import type { GateProvider, GateRun } from "../provider.ts";
import { judgeBootLogs, type SerialLogRead } from "./judge.ts";
import { bootDiagnosticsGateSchema } from "./schema.ts";

export const bootDiagnosticsGate: GateProvider<typeof bootDiagnosticsGateSchema> = {
  kind: "bootDiagnostics",
  schema: bootDiagnosticsGateSchema,
  docs: "bootdiagnostics",
  simulator: ["virtualMachineScaleSetVMs.retrieveBootDiagnosticsData", "bootDiagnostics.download"],
  judge: async (spec, run) =>
    judgeBootLogs({
      instanceIds: run.instanceIds,
      logs: await readSerialLogs(run),
      failOn: spec.failOn,
      measuredAt: run.now().toISOString(),
    }),
};

async function readSerialLogs(run: GateRun): Promise<SerialLogRead[]> {
  const queue = [...run.instanceIds];
  const logs: SerialLogRead[] = [];
  const worker = async () => {
    for (let instanceId = queue.shift(); instanceId !== undefined; instanceId = queue.shift()) {
      try {
        logs.push(await run.azure.bootDiagnostics.readSerialLog(run.scaleSetId, instanceId, run.signal));
      } catch (error) {
        logs.push({ instanceId, error: error instanceof Error ? error.message : String(error) });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(run.bootLogConcurrency ?? 8, queue.length) }, worker));
  return logs.sort((a, b) => run.instanceIds.indexOf(a.instanceId) - run.instanceIds.indexOf(b.instanceId));
}
