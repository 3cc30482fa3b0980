/**
 * Reads a fleet from Azure Resource Manager for the inventory: the scale sets of a scope (one
 * paged list per subscription or resource group), each one's instances (one paged list with
 * `$expand=instanceView`), and the gallery versions they run. Reads only; every HTTP call is
 * counted (`armCalls`), pages included, so the cost of an inventory is measured, not guessed.
 */
import type { VirtualMachineScaleSet } from "@azure/arm-compute";
import { type AzureCallHook, createAzureClients } from "../azure/clients.ts";
import { createComputeAdapter, type ScaleSetModel, toScaleSetModel } from "../azure/compute.ts";
import type { AzureAccess } from "../azure/credentials.ts";
import { wrapAzureError } from "../azure/errors.ts";
import { createGalleryAdapter, type ImageVersionFacts } from "../azure/gallery.ts";
import type { InstanceFacts } from "../domain/fleet.ts";

export interface InventoryScope {
  subscriptionId: string;
  resourceGroup?: string;
}

export interface InventoryReader {
  listScaleSets(scope: InventoryScope, signal?: AbortSignal): Promise<ScaleSetModel[]>;
  listInstances(scaleSetId: string, signal?: AbortSignal): Promise<InstanceFacts[]>;
  readImageVersion(versionId: string, signal?: AbortSignal): Promise<ImageVersionFacts>;
  /** HTTP calls made to Azure so far (every page of a list counts). */
  armCalls(): number;
}

export function createArmInventoryReader(
  access: AzureAccess,
  options: { onAzureCall?: AzureCallHook } = {},
): InventoryReader {
  let calls = 0;
  const clients = createAzureClients(access, {
    onAzureCall: (call) => {
      calls += 1;
      options.onAzureCall?.(call);
    },
  });
  const compute = createComputeAdapter(clients);
  const gallery = createGalleryAdapter(clients);
  return {
    async listScaleSets(scope, signal) {
      const client = clients.compute(scope.subscriptionId).virtualMachineScaleSets;
      const abort = signal ? { abortSignal: signal } : {};
      const pages = scope.resourceGroup ? client.list(scope.resourceGroup, abort) : client.listAll(abort);
      const models: ScaleSetModel[] = [];
      try {
        for await (const vmss of pages as AsyncIterable<VirtualMachineScaleSet>)
          if (vmss.id) models.push(toScaleSetModel(vmss.id, vmss));
      } catch (error) {
        throw wrapAzureError(
          `listing the scale sets of subscription ${scope.subscriptionId}${scope.resourceGroup ? ` resource group ${scope.resourceGroup}` : ""}`,
          error,
        );
      }
      return models;
    },
    listInstances: (scaleSetId, signal) => compute.listInstances(scaleSetId, signal),
    readImageVersion: (versionId, signal) => gallery.readImageVersion(versionId, signal),
    armCalls: () => calls,
  };
}
