/** Contract: Microsoft.Compute as the real @azure/arm-compute client sees it. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Harness, RG, startHarness } from "./support.ts";

/** core-lro treats Retry-After: 0 as absent (2 s default), so fast callers set the poll interval. */
const FAST = { updateIntervalInMs: 10 };

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ vmListPageSize: 2 });
});
afterAll(async () => h.close());

async function listVms(name: string) {
  const vms = [];
  for await (const vm of h.compute.virtualMachineScaleSetVMs.list(RG, name, { expand: "instanceView" }))
    vms.push(vm);
  return vms;
}

describe("scale sets", () => {
  it("get deserializes the flattened model: image, Manual policy, zones, capacity", async () => {
    const ss = await h.compute.virtualMachineScaleSets.get(RG, "web-a");
    expect(ss.location).toBe("westeurope");
    expect(ss.upgradePolicy?.mode).toBe("Manual");
    expect(ss.zones).toEqual(["1", "2", "3"]);
    expect(ss.sku?.capacity).toBe(5);
    expect(ss.virtualMachineProfile?.storageProfile?.imageReference?.id).toBe(h.versionId("1.0.0"));
  });

  it("list and listAll include the Automatic-policy scale set", async () => {
    const inGroup = [];
    for await (const ss of h.compute.virtualMachineScaleSets.list(RG)) inGroup.push(ss);
    const all = [];
    for await (const ss of h.compute.virtualMachineScaleSets.listAll()) all.push(ss);
    expect(inGroup.map((s) => s.name).sort()).toEqual(["web-a", "web-auto", "web-b", "web-c", "web-d"]);
    expect(all).toHaveLength(5);
    expect(inGroup.find((s) => s.name === "web-auto")?.upgradePolicy?.mode).toBe("Automatic");
  });

  it("a missing scale set is a 404 ResourceNotFound; VMs of it are ParentResourceNotFound", async () => {
    await expect(h.compute.virtualMachineScaleSets.get(RG, "nope")).rejects.toMatchObject({
      statusCode: 404,
      code: "ResourceNotFound",
    });
    await expect(h.compute.virtualMachineScaleSetVMs.get(RG, "nope", "0")).rejects.toMatchObject({
      statusCode: 404,
      code: "ParentResourceNotFound",
    });
  });

  it("getInstanceView summarises provisioning states", async () => {
    const view = await h.compute.virtualMachineScaleSets.getInstanceView(RG, "web-b");
    expect(view.virtualMachine?.statusesSummary).toEqual([{ code: "ProvisioningState/succeeded", count: 4 }]);
  });
});

describe("VMs", () => {
  it("list follows nextLink across pages and keeps non-contiguous instance ids", async () => {
    const vms = await listVms("web-a");
    expect(vms.map((vm) => vm.instanceId)).toEqual(["0", "2", "3", "7", "9"]);
    expect(h.sim.requestLog({ operation: "virtualMachineScaleSetVMs.list" }).length).toBeGreaterThanOrEqual(
      3,
    );
  });

  it("instance view carries provisioning, power, health and the exact image version", async () => {
    const [vm] = await listVms("web-b");
    expect(vm?.latestModelApplied).toBe(true);
    expect(vm?.provisioningState).toBe("Succeeded");
    expect(vm?.storageProfile?.imageReference).toMatchObject({
      id: h.versionId("1.0.0"),
      exactVersion: "1.0.0",
    });
    expect(vm?.instanceView?.statuses?.map((s) => s.code)).toEqual([
      "ProvisioningState/succeeded",
      "PowerState/running",
    ]);
    expect(vm?.instanceView?.vmHealth?.status?.code).toBe("HealthState/healthy");
    expect(vm?.instanceView?.extensions?.[0]?.name).toBe("HealthExtension");
  });

  it("get, getInstanceView and protection policy", async () => {
    const vm = await h.compute.virtualMachineScaleSetVMs.get(RG, "web-d", "12");
    expect(vm.protectionPolicy?.protectFromScaleSetActions).toBe(true);
    const view = await h.compute.virtualMachineScaleSetVMs.getInstanceView(RG, "web-c", "1");
    expect(view.statuses?.[1]?.code).toBe("PowerState/running");
  });
});

describe("model update and manual upgrade", () => {
  it("PATCH changes the model only; manual upgrade boots the new image on the chosen instances", async () => {
    const updated = await h.compute.virtualMachineScaleSets.update(
      RG,
      "web-b",
      {
        virtualMachineProfile: { storageProfile: { imageReference: { id: h.versionId("1.1.0") } } },
      },
      FAST,
    );
    expect(updated.provisioningState).toBe("Succeeded");
    expect(updated.virtualMachineProfile?.storageProfile?.imageReference?.id).toBe(h.versionId("1.1.0"));
    let vms = await listVms("web-b");
    expect(vms.map((vm) => vm.latestModelApplied)).toEqual([false, false, false, false]);
    expect(vms.map((vm) => vm.storageProfile?.imageReference?.exactVersion)).toEqual([
      "1.0.0",
      "1.0.0",
      "1.0.0",
      "1.0.0",
    ]);

    await h.compute.virtualMachineScaleSets.updateInstances(RG, "web-b", { instanceIds: ["0", "1"] }, FAST);
    vms = await listVms("web-b");
    expect(vms.map((vm) => vm.latestModelApplied)).toEqual([true, true, false, false]);
    expect(h.sim.instanceImages(h.scaleSetId("web-b")).map((i) => i.version)).toEqual([
      "1.1.0",
      "1.1.0",
      "1.0.0",
      "1.0.0",
    ]);
  });

  it("a protected instance keeps its image through a manual upgrade", async () => {
    await h.compute.virtualMachineScaleSets.update(
      RG,
      "web-d",
      {
        virtualMachineProfile: { storageProfile: { imageReference: { id: h.versionId("1.1.0") } } },
      },
      FAST,
    );
    await h.compute.virtualMachineScaleSets.updateInstances(RG, "web-d", { instanceIds: ["1", "12"] }, FAST);
    const images = h.sim.instanceImages(h.scaleSetId("web-d"));
    expect(images.find((i) => i.instanceId === "1")?.version).toBe("1.1.0");
    expect(images.find((i) => i.instanceId === "12")?.version).toBe("1.0.0");
  });

  it("an upgraded instance behaves as its version says: 1.2.0 panics at boot, 1.3.0 is unhealthy", async () => {
    await h.compute.virtualMachineScaleSets.update(
      RG,
      "web-c",
      {
        virtualMachineProfile: { storageProfile: { imageReference: { id: h.versionId("1.2.0") } } },
      },
      FAST,
    );
    await h.compute.virtualMachineScaleSets.updateInstances(RG, "web-c", { instanceIds: ["0"] }, FAST);
    const diag = await h.compute.virtualMachineScaleSetVMs.retrieveBootDiagnosticsData(RG, "web-c", "0", {
      sasUriExpirationTimeInMinutes: 5,
    });
    expect(diag.serialConsoleLogBlobUri).toMatch(/\?sv=.*&sig=/);
    expect(diag.consoleScreenshotBlobUri).toMatch(/screenshot\.bmp\?sv=/);
    const log = await downloadText(diag.serialConsoleLogBlobUri ?? "");
    expect(log).toContain("Kernel panic - not syncing");
    const good = await h.compute.virtualMachineScaleSetVMs.retrieveBootDiagnosticsData(RG, "web-c", "1");
    expect(await downloadText(good.serialConsoleLogBlobUri ?? "")).toContain(
      "Reached target Multi-User System",
    );

    await h.compute.virtualMachineScaleSets.update(
      RG,
      "web-c",
      {
        virtualMachineProfile: { storageProfile: { imageReference: { id: h.versionId("1.3.0") } } },
      },
      FAST,
    );
    await h.compute.virtualMachineScaleSets.updateInstances(RG, "web-c", { instanceIds: ["1"] }, FAST);
    const view = await h.compute.virtualMachineScaleSetVMs.getInstanceView(RG, "web-c", "1");
    expect(view.vmHealth?.status?.code).toBe("HealthState/unhealthy");
  });

  it("reimage is an LRO the SDK polls to completion", async () => {
    await h.compute.virtualMachineScaleSets.reimage(RG, "web-c", {
      ...FAST,
      vmScaleSetReimageInput: { instanceIds: ["2"] },
    });
    const vm = await h.compute.virtualMachineScaleSetVMs.get(RG, "web-c", "2");
    expect(vm.provisioningState).toBe("Succeeded");
  });

  it("a bad body is 400 InvalidParameter; an unknown instance id too", async () => {
    await expect(
      h.compute.virtualMachineScaleSets.update(RG, "web-a", {
        virtualMachineProfile: { storageProfile: { imageReference: { id: h.versionId("9.9.9") } } },
      }),
    ).rejects.toMatchObject({ statusCode: 400, code: "InvalidParameter" });
    await expect(
      h.compute.virtualMachineScaleSets.updateInstances(RG, "web-a", { instanceIds: ["42"] }),
    ).rejects.toMatchObject({
      statusCode: 400,
      code: "InvalidParameter",
    });
  });

  it("createOrUpdate creates a scale set whose instances come up", async () => {
    const created = await h.compute.virtualMachineScaleSets.createOrUpdate(
      RG,
      "web-new",
      {
        location: "westeurope",
        sku: { name: "Standard_D2s_v5", capacity: 2 },
        upgradePolicy: { mode: "Manual" },
        virtualMachineProfile: { storageProfile: { imageReference: { id: h.versionId("1.0.0") } } },
      },
      FAST,
    );
    expect(created.name).toBe("web-new");
    const vms = await listVms("web-new");
    expect(vms.map((vm) => vm.provisioningState)).toEqual(["Succeeded", "Succeeded"]);
  });
});

describe("galleries and marketplace", () => {
  it("replication status uses region display names and ends Failed where the scenario says", async () => {
    const v = await h.compute.galleryImageVersions.get(RG, "demoGallery", "web", "1.5.0", {
      expand: "ReplicationStatus",
    });
    expect(v.replicationStatus?.summary).toEqual([
      expect.objectContaining({ region: "West Europe", state: "Completed" }),
      expect.objectContaining({ region: "North Europe", state: "Failed" }),
    ]);
    expect(v.publishingProfile?.targetRegions?.map((r) => r.name)).toEqual(["West Europe", "North Europe"]);
    expect(v.publishingProfile?.endOfLifeDate?.toISOString()).toBe("2027-12-31T00:00:00.000Z");
  });

  it("lists image versions and gets the image definition", async () => {
    const versions = [];
    for await (const v of h.compute.galleryImageVersions.listByGalleryImage(RG, "demoGallery", "web"))
      versions.push(v.name);
    expect(versions).toEqual(["1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0", "1.5.0", "1.6.0", "1.7.0"]);
    const image = await h.compute.galleryImages.get(RG, "demoGallery", "web");
    expect(image.osType).toBe("Linux");
  });

  it("marketplace virtualMachineImages list and get", async () => {
    const list = await h.compute.virtualMachineImages.list(
      "westeurope",
      "Canonical",
      "ubuntu-24_04-lts",
      "server",
    );
    expect(list.map((i) => i.name)).toEqual(["24.04.202609010", "24.04.202610150"]);
    const image = await h.compute.virtualMachineImages.get(
      "westeurope",
      "Canonical",
      "ubuntu-24_04-lts",
      "server",
      "24.04.202610150",
    );
    expect(image.name).toBe("24.04.202610150");
  });
});

async function downloadText(uri: string): Promise<string> {
  const { request } = await import("node:https");
  return new Promise((resolve, reject) => {
    request(uri, { ca: h.sim.connection.caCert }, (res) => {
      let text = "";
      res.on("data", (chunk) => {
        text += chunk;
      });
      res.on("end", () =>
        res.statusCode === 200 ? resolve(text) : reject(new Error(`HTTP ${res.statusCode}`)),
      );
    })
      .on("error", reject)
      .end();
  });
}
