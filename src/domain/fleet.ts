import type { ImageReference } from "./image.ts";

/** What canaryd knows about one instance of a scale set, read from ARM (list with `$expand=instanceView`). */
export interface InstanceFacts {
  instanceId: string;
  name: string;
  /** The guest's host name (`osProfile.computerName`): the `Computer` column of its logs. */
  computerName?: string;
  zone?: string;
  /** `protectionPolicy.protectFromScaleSetActions`: a manual upgrade leaves it alone. */
  protectedFromScaleSetActions: boolean;
  imageReference?: ImageReference;
  latestModelApplied: boolean;
  /** ARM provisioningState of the VM, e.g. Succeeded, Updating, Failed. */
  provisioningState: string;
  /** From instanceView.statuses `PowerState/...`, e.g. running, stopped, deallocated. */
  powerState?: string;
  /** Application Health extension verdict (instanceView.vmHealth.status.code `HealthState/...`). */
  vmHealth?: "healthy" | "unhealthy" | "unknown" | "initializing";
  /** Provisioning error codes seen on the instance (AllocationFailed, OSProvisioningTimedOut, ...). */
  errorCodes: string[];
}

export type KnownUpgradeMode = "Manual" | "Automatic" | "Rolling";

/** What preflight records per scale set before anything changes. */
export interface ScaleSetFacts {
  id: string;
  name: string;
  subscriptionId: string;
  resourceGroup: string;
  /** Short region name as the scale set's `location` says it (e.g. `westeurope`). */
  location: string;
  orchestrationMode: "Uniform" | "Flexible";
  /**
   * As ARM says it (`Manual` when the model names none); a mode other than the known three is kept
   * as sent, never mistaken for Manual (preflight refuses it).
   */
  upgradePolicyMode: KnownUpgradeMode | (string & {});
  capacity: number;
  zones: string[];
  /** The model's image reference; for `latest` the exact version the instances run is filled in. */
  imageReference: ImageReference;
  instances: InstanceFacts[];
}
