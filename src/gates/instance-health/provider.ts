/**
 * The instanceHealth gate kind: judged from the evaluation's one instance listing (no read of its
 * own) against the spec's strategy.maxUnhealthyPercent. Read-only.
 */
import type { GateProvider } from "../provider.ts";
import { judgeInstanceHealth } from "./judge.ts";
import { instanceHealthGateSchema } from "./schema.ts";

export const instanceHealthGate: GateProvider<typeof instanceHealthGateSchema> = {
  kind: "instanceHealth",
  schema: instanceHealthGateSchema,
  docs: "instancehealth",
  simulator: ["virtualMachineScaleSetVMs.list"],
  judge: (_spec, run) =>
    judgeInstanceHealth({
      instanceIds: run.instanceIds,
      instances: run.instances,
      maxUnhealthyPercent: run.maxUnhealthyPercent,
      measuredAt: run.now().toISOString(),
    }),
};
