/**
 * Scale sets and their instances through @azure/arm-compute. Reads cover many instances at once
 * (one paged list with `$expand=instanceView`); writes only wait for Azure to accept the
 * long-running operation: the engine observes completion by reading the resource later.
 */
import type { VirtualMachineScaleSet, VirtualMachineScaleSetVM } from "@azure/arm-compute";
import type { InstanceFacts, KnownUpgradeMode, ScaleSetFacts } from "../domain/fleet.ts";
import type { ImageReference } from "../domain/image.ts";
import type { AzureClients } from "./clients.ts";
import { AzureAdapterError, isNotFound, wrapAzureError } from "./errors.ts";
import { fromArmImageReference, toArmImageReference } from "./image-reference.ts";
import { scaleSetRef } from "./resource-id.ts";

/** A scale set's model without its instances. */
export type ScaleSetModel = Omit<ScaleSetFacts, "instances" | "imageReference"> & {
  imageReference?: ImageReference;
  /** ARM provisioningState of the scale set: `Updating` while a model write runs. */
  provisioningState?: string;
  /** The scale set's ETag as read: a write sends it as `If-Match`, so a change in between is refused (412). */
  etag?: string;
  /** The scale set's resource tags (policy.requireApproval matches them). */
  tags?: Record<string, string>;
};

export interface ComputeAdapter {
  /** Throws AzureAdapterError `SCALE_SET_NOT_FOUND` when it does not exist. */
  readScaleSetModel(scaleSetId: string, signal?: AbortSignal): Promise<ScaleSetModel>;
  /** Every instance, read with one paged list call (`$expand=instanceView`). */
  listInstances(scaleSetId: string, signal?: AbortSignal): Promise<InstanceFacts[]>;
  /** The model plus its instances: two calls. */
  readScaleSet(scaleSetId: string, signal?: AbortSignal): Promise<ScaleSetFacts>;
  /** The model's imageReference and the scale set's provisioning state. */
  readModelImage(
    scaleSetId: string,
    signal?: AbortSignal,
  ): Promise<{ imageReference?: ImageReference; provisioningState?: string; etag?: string }>;
  /**
   * PATCHes the model's imageReference; resolves once Azure accepted the operation. With `ifMatch`
   * (the ETag read before), Azure refuses the write with 412 when the scale set changed since.
   */
  startModelImageUpdate(
    scaleSetId: string,
    image: ImageReference,
    signal?: AbortSignal,
    ifMatch?: string,
  ): Promise<void>;
  /** One manual upgrade (`updateInstances`) of these instances; resolves once Azure accepted it. */
  startManualUpgrade(scaleSetId: string, instanceIds: string[], signal?: AbortSignal): Promise<void>;
}

export function createComputeAdapter(clients: AzureClients): ComputeAdapter {
  const client = (subscriptionId: string) => clients.compute(subscriptionId);

  async function readScaleSetModel(scaleSetId: string, signal?: AbortSignal): Promise<ScaleSetModel> {
    const ref = scaleSetRef(scaleSetId);
    let vmss: VirtualMachineScaleSet;
    try {
      vmss = await client(ref.subscriptionId).virtualMachineScaleSets.get(
        ref.resourceGroup,
        ref.name,
        abortable(signal),
      );
    } catch (error) {
      if (isNotFound(error))
        throw new AzureAdapterError("SCALE_SET_NOT_FOUND", `scale set ${scaleSetId} does not exist`, {
          statusCode: 404,
        });
      throw wrapAzureError(`reading scale set ${scaleSetId}`, error);
    }
    return toScaleSetModel(scaleSetId, vmss);
  }

  async function listInstances(scaleSetId: string, signal?: AbortSignal): Promise<InstanceFacts[]> {
    const ref = scaleSetRef(scaleSetId);
    const instances: InstanceFacts[] = [];
    try {
      const pages = client(ref.subscriptionId).virtualMachineScaleSetVMs.list(ref.resourceGroup, ref.name, {
        expand: "instanceView",
        ...abortable(signal),
      });
      for await (const vm of pages) instances.push(toInstanceFacts(vm));
    } catch (error) {
      if (isNotFound(error))
        throw new AzureAdapterError("SCALE_SET_NOT_FOUND", `scale set ${scaleSetId} does not exist`, {
          statusCode: 404,
        });
      throw wrapAzureError(`listing instances of ${scaleSetId}`, error);
    }
    return instances;
  }

  return {
    readScaleSetModel,
    listInstances,
    async readScaleSet(scaleSetId, signal) {
      const model = await readScaleSetModel(scaleSetId, signal);
      const instances = await listInstances(scaleSetId, signal);
      const { provisioningState: _state, tags: _tags, imageReference, ...facts } = model;
      if (!imageReference)
        throw new AzureAdapterError(
          "SCALE_SET_NO_IMAGE",
          `scale set ${scaleSetId} has no imageReference in its model`,
        );
      return { ...facts, imageReference, instances };
    },
    async readModelImage(scaleSetId, signal) {
      const model = await readScaleSetModel(scaleSetId, signal);
      return {
        ...(model.imageReference ? { imageReference: model.imageReference } : {}),
        ...(model.provisioningState ? { provisioningState: model.provisioningState } : {}),
        ...(model.etag ? { etag: model.etag } : {}),
      };
    },
    async startModelImageUpdate(scaleSetId, image, signal, ifMatch) {
      const ref = scaleSetRef(scaleSetId);
      try {
        const poller = client(ref.subscriptionId).virtualMachineScaleSets.update(
          ref.resourceGroup,
          ref.name,
          { virtualMachineProfile: { storageProfile: { imageReference: toArmImageReference(image) } } },
          { ...abortable(signal), ...(ifMatch ? { ifMatch } : {}) },
        );
        // The poller is thenable: awaiting it would poll to completion. Only the submission counts.
        await poller.submitted();
      } catch (error) {
        throw wrapAzureError(`updating the model image of ${scaleSetId}`, error);
      }
    },
    async startManualUpgrade(scaleSetId, instanceIds, signal) {
      const ref = scaleSetRef(scaleSetId);
      try {
        const poller = client(ref.subscriptionId).virtualMachineScaleSets.updateInstances(
          ref.resourceGroup,
          ref.name,
          { instanceIds },
          abortable(signal),
        );
        await poller.submitted();
      } catch (error) {
        throw wrapAzureError(`manual upgrade of instances ${instanceIds.join(", ")} of ${scaleSetId}`, error);
      }
    },
  };
}

function abortable(signal: AbortSignal | undefined): { abortSignal?: AbortSignal } {
  return signal ? { abortSignal: signal } : {};
}

const knownUpgradeModes: KnownUpgradeMode[] = ["Manual", "Automatic", "Rolling"];

/** Whether the mode is one canaryd knows what a model change does under. */
export function isKnownUpgradeMode(mode: string): mode is KnownUpgradeMode {
  return (knownUpgradeModes as string[]).includes(mode);
}

export function toScaleSetModel(scaleSetId: string, vmss: VirtualMachineScaleSet): ScaleSetModel {
  const ref = scaleSetRef(scaleSetId);
  const imageReference = fromArmImageReference(vmss.virtualMachineProfile?.storageProfile?.imageReference);
  const mode =
    knownUpgradeModes.find(
      (known) => known.toLowerCase() === (vmss.upgradePolicy?.mode ?? "Manual").toLowerCase(),
    ) ??
    vmss.upgradePolicy?.mode ??
    "Manual";
  const model: ScaleSetModel = {
    id: scaleSetId,
    name: vmss.name ?? ref.name,
    subscriptionId: ref.subscriptionId,
    resourceGroup: ref.resourceGroup,
    location: vmss.location.replace(/\s/g, "").toLowerCase(),
    orchestrationMode: vmss.orchestrationMode === "Flexible" ? "Flexible" : "Uniform",
    upgradePolicyMode: mode,
    capacity: vmss.sku?.capacity ?? 0,
    zones: vmss.zones ?? [],
  };
  if (imageReference) model.imageReference = imageReference;
  if (vmss.provisioningState) model.provisioningState = vmss.provisioningState;
  if (vmss.etag) model.etag = vmss.etag;
  if (vmss.tags && Object.keys(vmss.tags).length > 0) model.tags = vmss.tags;
  return model;
}

const healthStates = new Set(["healthy", "unhealthy", "unknown", "initializing"]);

export function toInstanceFacts(vm: VirtualMachineScaleSetVM): InstanceFacts {
  const statuses = vm.instanceView?.statuses ?? [];
  const codes = statuses.map((status) => status.code ?? "");
  const powerState = codes.find((code) => code.startsWith("PowerState/"))?.slice("PowerState/".length);
  const provisioningFromView = codes.find((code) => code.startsWith("ProvisioningState/"))?.split("/")[1];
  const health = vm.instanceView?.vmHealth?.status?.code?.split("/")[1]?.toLowerCase();
  const errorCodes = new Set<string>();
  for (const status of statuses) {
    const code = status.code ?? "";
    if (code.startsWith("ProvisioningState/failed/"))
      errorCodes.add(code.split("/")[2] ?? "ProvisioningFailed");
    else if (status.level === "Error" && code) errorCodes.add(code.split("/").at(-1) ?? code);
  }
  for (const extension of vm.instanceView?.extensions ?? []) {
    if (
      (extension.statuses ?? []).some(
        (status) => status.level === "Error" || /\/failed/i.test(status.code ?? ""),
      )
    )
      errorCodes.add("VMExtensionProvisioningError");
  }
  const instanceId = vm.instanceId ?? vm.name?.split("_").at(-1) ?? "";
  const facts: InstanceFacts = {
    instanceId,
    name: vm.name ?? instanceId,
    protectedFromScaleSetActions: vm.protectionPolicy?.protectFromScaleSetActions ?? false,
    latestModelApplied: vm.latestModelApplied ?? false,
    provisioningState: vm.provisioningState ?? capitalize(provisioningFromView) ?? "Unknown",
    errorCodes: [...errorCodes],
  };
  const computerName = vm.osProfile?.computerName ?? vm.instanceView?.computerName;
  if (computerName) facts.computerName = computerName;
  const zone = vm.zones?.[0];
  if (zone) facts.zone = zone;
  const imageReference = fromArmImageReference(vm.storageProfile?.imageReference);
  if (imageReference) facts.imageReference = imageReference;
  if (powerState) facts.powerState = powerState;
  if (health && healthStates.has(health)) facts.vmHealth = health as NonNullable<InstanceFacts["vmHealth"]>;
  return facts;
}

function capitalize(text: string | undefined): string | undefined {
  return text ? `${text[0]?.toUpperCase()}${text.slice(1)}` : undefined;
}
