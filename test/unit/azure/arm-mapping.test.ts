import type { UpgradeMode } from "@azure/arm-compute";
import { describe, expect, it } from "vitest";
import { operationName } from "../../../src/azure/clients.ts";
import { toInstanceFacts, toScaleSetModel } from "../../../src/azure/compute.ts";
import { toImageVersionFacts } from "../../../src/azure/gallery.ts";
import { dimensionValue } from "../../../src/azure/metrics.ts";
import { compareVersions, newestVersion } from "../../../src/azure/versions.ts";
import { modelFindings } from "../../../src/effects/preflight.ts";

const scaleSetId =
  "/subscriptions/s/resourceGroups/rg-demo/providers/Microsoft.Compute/virtualMachineScaleSets/web-a";

describe("mapping ARM shapes to canaryd facts", () => {
  it("maps a listed VM with its instance view to InstanceFacts", () => {
    const facts = toInstanceFacts({
      location: "westeurope",
      name: "web-a_7",
      instanceId: "7",
      zones: ["2"],
      latestModelApplied: false,
      provisioningState: "Failed",
      protectionPolicy: { protectFromScaleSetActions: true },
      storageProfile: { imageReference: { id: `${scaleSetId}/x`, exactVersion: "1.0.0" } },
      instanceView: {
        statuses: [
          { code: "ProvisioningState/failed/AllocationFailed", level: "Error", message: "no capacity" },
          { code: "PowerState/deallocated", level: "Info" },
        ],
        vmHealth: { status: { code: "HealthState/unhealthy" } },
        extensions: [
          { name: "HealthExtension", statuses: [{ code: "ProvisioningState/failed", level: "Error" }] },
        ],
      },
    });
    expect(facts).toEqual({
      instanceId: "7",
      name: "web-a_7",
      zone: "2",
      protectedFromScaleSetActions: true,
      latestModelApplied: false,
      provisioningState: "Failed",
      powerState: "deallocated",
      vmHealth: "unhealthy",
      imageReference: { id: `${scaleSetId}/x`, exactVersion: "1.0.0" },
      errorCodes: ["AllocationFailed", "VMExtensionProvisioningError"],
    });
  });

  it("maps a scale set model, keeping the short region name", () => {
    const model = toScaleSetModel(scaleSetId, {
      location: "West Europe",
      name: "web-a",
      sku: { capacity: 5 },
      orchestrationMode: "Uniform",
      upgradePolicy: { mode: "Automatic" },
      provisioningState: "Updating",
      virtualMachineProfile: { storageProfile: { imageReference: { id: "/x/versions/1.0.0" } } },
    });
    expect(model).toMatchObject({
      location: "westeurope",
      upgradePolicyMode: "Automatic",
      capacity: 5,
      provisioningState: "Updating",
      imageReference: { id: "/x/versions/1.0.0" },
      resourceGroup: "rg-demo",
      subscriptionId: "s",
    });
  });

  it("keeps an upgrade policy mode it does not know as ARM sent it, and preflight refuses it by name", () => {
    const base = { location: "westeurope", name: "web-odd", orchestrationMode: "Uniform" };
    const odd = toScaleSetModel(scaleSetId, { ...base, upgradePolicy: { mode: "Batched" as UpgradeMode } });
    expect(odd.upgradePolicyMode).toBe("Batched");
    expect(modelFindings({ ...odd, imageReference: { id: "/x/versions/1.0.0" } })).toEqual([
      {
        scaleSetId,
        region: "westeurope",
        code: "UPGRADE_POLICY_UNKNOWN",
        message: expect.stringContaining('web-odd has upgrade policy mode "Batched"'),
      },
    ]);
    // Known modes in any case are recognised; no mode at all is ARM's default, Manual.
    expect(
      toScaleSetModel(scaleSetId, { ...base, upgradePolicy: { mode: "manual" as UpgradeMode } })
        .upgradePolicyMode,
    ).toBe("Manual");
    expect(toScaleSetModel(scaleSetId, base).upgradePolicyMode).toBe("Manual");
  });

  it("normalises gallery replication regions ('West Europe' → westeurope)", () => {
    const facts = toImageVersionFacts("/v", {
      location: "westeurope",
      publishingProfile: {
        targetRegions: [{ name: "West Europe" }, { name: "North Europe" }],
        endOfLifeDate: new Date("2027-12-31T00:00:00Z"),
      },
      replicationStatus: {
        summary: [
          { region: "West Europe", state: "Completed" },
          { region: "North Europe", state: "Failed", details: "region unreachable" },
        ],
      },
    });
    expect(facts).toMatchObject({
      exists: true,
      targetRegions: ["westeurope", "northeurope"],
      replication: { westeurope: "completed", northeurope: "failed" },
      replicationDetails: { northeurope: "region unreachable" },
      endOfLifeDate: "2027-12-31T00:00:00.000Z",
    });
  });

  it("names Azure calls by resource type and action, without names or ids", () => {
    expect(
      operationName("POST", `https://arm.example${scaleSetId}/manualupgrade?api-version=2026-04-01`),
    ).toBe("POST virtualMachineScaleSets/manualupgrade");
    expect(
      operationName("GET", `https://arm.example${scaleSetId}/virtualMachines?$expand=instanceView`),
    ).toBe("GET virtualMachineScaleSets/virtualMachines");
    expect(operationName("POST", "https://westeurope.metrics.example/subscriptions/s/metrics:getBatch")).toBe(
      "POST metrics:getBatch",
    );
  });

  it("finds the VMName dimension however Azure Monitor spells and shapes its name", () => {
    expect(
      dimensionValue([{ name: { value: "vmname", localizedValue: "vmname" }, value: "web-a_0" }], "vmname"),
    ).toBe("web-a_0");
    expect(dimensionValue([{ name: "VMName", value: "web-a_2" }], "vmname")).toBe("web-a_2");
    expect(dimensionValue([{ name: "other", value: "x" }], "vmname")).toBeUndefined();
  });

  it("orders versions numerically", () => {
    expect(compareVersions("1.10.0", "1.9.0")).toBe(1);
    expect(newestVersion(["24.04.202609010", "24.04.202610150", "24.04.202601010"])).toBe("24.04.202610150");
  });
});
