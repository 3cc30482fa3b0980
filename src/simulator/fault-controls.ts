/**
 * The fault controls the admin endpoint and `RunningSimulator` share. Request faults live in the
 * FaultController; instance faults are flags on the instance in the fleet state (so they survive
 * a restart), named by a stable id derived from the instance.
 */
import { ArmError, invalidParameter } from "./arm-errors.ts";
import type { FaultController } from "./faults.ts";
import { faultSpecSchema } from "./faults.ts";
import type { Fleet } from "./fleet.ts";
import { scaleSetByNameOrId } from "./fleet-ops.ts";
import type { AdminHooks } from "./router.ts";
import type { InstanceState, ScaleSetState } from "./state.ts";

function instanceFaultId(ss: ScaleSetState, instance: InstanceState): string {
  return `instance.${ss.resourceGroup}.${ss.name}.${instance.instanceId}`.toLowerCase();
}

function* faultedInstances(
  fleet: Fleet,
): Generator<{ ss: ScaleSetState; instance: InstanceState; id: string }> {
  for (const ss of fleet.state.scaleSets) {
    for (const instance of ss.instances) {
      if (instance.neverReturns || instance.failNextWith)
        yield { ss, instance, id: instanceFaultId(ss, instance) };
    }
  }
}

export function createFaultControls(fleet: Fleet, faults: FaultController, changed: () => void): AdminHooks {
  const removeFault = (id: string): boolean => {
    for (const { instance, id: candidate } of faultedInstances(fleet)) {
      if (candidate !== id) continue;
      delete instance.neverReturns;
      delete instance.failNextWith;
      changed();
      return true;
    }
    return faults.remove(id);
  };
  return {
    addFault(spec) {
      const parsed = faultSpecSchema.safeParse(spec);
      if (!parsed.success) {
        const issues = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
        throw invalidParameter(`Invalid fault: ${issues}`);
      }
      const fault = parsed.data;
      if ("operation" in fault) return { id: faults.add(fault).id };
      const ss = scaleSetByNameOrId(fleet, fault.scaleSet);
      const instance = ss.instances.find((i) => i.instanceId === fault.instanceId);
      if (!instance) {
        throw new ArmError(
          404,
          "NotFound",
          `No instance ${fault.instanceId} in scale set '${fault.scaleSet}'.`,
        );
      }
      if (fault.kind === "instanceNeverReturns") instance.neverReturns = true;
      else instance.failNextWith = fault.errorCode;
      changed();
      return { id: instanceFaultId(ss, instance) };
    },
    removeFault,
    clearFaults() {
      faults.clear();
      for (const { id } of [...faultedInstances(fleet)]) removeFault(id);
    },
    listFaults() {
      return [
        ...faults.list().map((f) => ({
          id: f.id,
          ...f.spec,
          ...(f.remaining !== undefined ? { remaining: f.remaining } : {}),
        })),
        ...[...faultedInstances(fleet)].map(({ ss, instance, id }) => ({
          id,
          kind: instance.neverReturns ? "instanceNeverReturns" : "instanceFailsProvisioning",
          scaleSet: ss.id,
          instanceId: instance.instanceId,
          ...(instance.failNextWith ? { errorCode: instance.failNextWith } : {}),
        })),
      ];
    },
  };
}
