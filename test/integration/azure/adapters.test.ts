/** canaryd's Azure adapters against the simulator through the real SDK clients. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAzureAdapters } from "../../../src/azure/adapters.ts";
import { AzureAdapterError } from "../../../src/azure/errors.ts";
import { runsImage } from "../../../src/azure/image-reference.ts";
import { type DemoFleet, eventually, startDemoFleet } from "./demo-simulator.ts";

let fleet: DemoFleet;

beforeAll(async () => {
  fleet = await startDemoFleet({ vmListPageSize: 2 });
});
afterAll(async () => {
  await fleet?.close();
});

describe("compute adapter", () => {
  it("reads a scale set's model and every instance from one paged list with instanceView", async () => {
    fleet.sim.clearRequestLog();
    const facts = await fleet.azure.compute.readScaleSet(fleet.scaleSetId("web-a"));
    expect(facts).toMatchObject({
      name: "web-a",
      location: "westeurope",
      orchestrationMode: "Uniform",
      upgradePolicyMode: "Manual",
      capacity: 5,
      zones: ["1", "2", "3"],
      imageReference: { id: fleet.versionId("1.0.0") },
    });
    expect(facts.instances.map((instance) => instance.instanceId)).toEqual(["0", "2", "3", "7", "9"]);
    expect(facts.instances[0]).toMatchObject({
      name: "web-a_0",
      provisioningState: "Succeeded",
      powerState: "running",
      vmHealth: "healthy",
      latestModelApplied: true,
      imageReference: { exactVersion: "1.0.0" },
    });
    // Five instances at two per page: three pages of one list, following nextLink.
    const lists = fleet.sim.requestLog({ operation: "virtualMachineScaleSetVMs.list" });
    expect(lists).toHaveLength(3);
  });

  it("reports protected instances", async () => {
    const instances = await fleet.azure.compute.listInstances(fleet.scaleSetId("web-d"));
    expect(instances.find((instance) => instance.instanceId === "12")?.protectedFromScaleSetActions).toBe(
      true,
    );
  });

  it("names a missing scale set with a code", async () => {
    await expect(fleet.azure.compute.readScaleSetModel(fleet.scaleSetId("web-nope"))).rejects.toMatchObject({
      code: "SCALE_SET_NOT_FOUND",
    });
  });

  it("writes the model image and upgrades a batch with one updateInstances call, awaiting only the submission", async () => {
    const id = fleet.scaleSetId("web-b");
    const target = { id: fleet.versionId("1.1.0") };
    await fleet.azure.compute.startModelImageUpdate(id, target);
    expect((await fleet.azure.compute.readModelImage(id)).imageReference).toEqual(target);
    await eventually(async () =>
      (await fleet.azure.compute.readModelImage(id)).provisioningState === "Succeeded" ? true : undefined,
    );

    fleet.sim.clearRequestLog();
    await fleet.azure.compute.startManualUpgrade(id, ["0", "1"]);
    expect(fleet.sim.requestLog({ operation: "virtualMachineScaleSets.updateInstances" })).toHaveLength(1);
    const updating = await fleet.azure.compute.listInstances(id);
    expect(
      updating.filter((instance) => instance.provisioningState === "Updating").map((i) => i.instanceId),
    ).toEqual(["0", "1"]);
    const done = await eventually(async () => {
      const instances = await fleet.azure.compute.listInstances(id);
      const batch = instances.filter((instance) => ["0", "1"].includes(instance.instanceId));
      return batch.every((instance) => instance.provisioningState === "Succeeded") ? batch : undefined;
    });
    expect(
      done.every((instance) => runsImage(instance.imageReference, target) && instance.latestModelApplied),
    ).toBe(true);
  });
});

describe("gallery and marketplace adapters", () => {
  it("reads replication per region with normalised names: 1.5.0 failed in northeurope", async () => {
    const version = await fleet.azure.gallery.readImageVersion(fleet.versionId("1.5.0"));
    expect(version).toMatchObject({
      exists: true,
      targetRegions: ["westeurope", "northeurope"],
      replication: { westeurope: "completed", northeurope: "failed" },
      endOfLifeDate: "2027-12-31T00:00:00.000Z",
    });
  });

  it("says a missing version does not exist", async () => {
    expect((await fleet.azure.gallery.readImageVersion(fleet.versionId("9.9.9"))).exists).toBe(false);
  });

  it("resolves latest to the newest gallery version and marketplace version", async () => {
    expect(await fleet.azure.gallery.resolveLatestVersionId(fleet.versionId("latest"))).toBe(
      fleet.versionId("1.5.0"),
    );
    const ubuntu = { publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server" };
    expect(await fleet.azure.marketplace.latestVersion(fleet.subscriptionId, "westeurope", ubuntu)).toBe(
      "24.04.202610150",
    );
    expect(
      await fleet.azure.marketplace.versionExists(
        fleet.subscriptionId,
        "northeurope",
        ubuntu,
        "24.04.202609010",
      ),
    ).toBe(true);
    expect(
      await fleet.azure.marketplace.versionExists(
        fleet.subscriptionId,
        "northeurope",
        ubuntu,
        "24.04.209901010",
      ),
    ).toBe(false);
  });
});

describe("metrics adapter", () => {
  it("returns a series per VM for every instance of the region's scale sets in one batch call", async () => {
    fleet.sim.clearRequestLog();
    const end = new Date();
    const result = await fleet.azure.metrics.queryScaleSetMetric({
      region: "northeurope",
      scaleSetIds: [fleet.scaleSetId("web-c"), fleet.scaleSetId("web-d")],
      metric: "Percentage CPU",
      namespace: "Microsoft.Compute/virtualMachineScaleSets",
      aggregation: "Average",
      start: new Date(end.getTime() - 10 * 60_000),
      end,
      interval: "PT1M",
      top: 6,
    });
    expect(fleet.sim.requestLog({ operation: "metrics.queryResources" }).length).toBe(1);
    expect(result.series.map((series) => series.vmName).sort()).toEqual(
      [
        "web-c_0",
        "web-c_1",
        "web-c_2",
        "web-c_3",
        "web-d_1",
        "web-d_10",
        "web-d_12",
        "web-d_4",
        "web-d_5",
        "web-d_6",
      ].sort(),
    );
    const values = result.series.flatMap((series) => series.points.map((point) => point.value));
    expect(values.length).toBeGreaterThan(0);
    expect(values.every((value) => value > 10 && value < 45)).toBe(true);
  });
});

describe("boot diagnostics adapter", () => {
  it("downloads the serial console log over HTTPS with the simulator's CA and keeps the SAS out of the result", async () => {
    const log = await fleet.azure.bootDiagnostics.readSerialLog(fleet.scaleSetId("web-a"), "0");
    expect(log.text).toContain("Linux version");
    expect(log.source).not.toContain("?");
    expect(JSON.stringify(log)).not.toMatch(/sig=|se=/);
  });

  it("fails a download without leaking the SAS query string", async () => {
    fleet.sim.addFault({
      kind: "serverError",
      operation: "bootDiagnostics.download",
      status: 503,
      count: 10,
    });
    try {
      const error = await fleet.azure.bootDiagnostics
        .readSerialLog(fleet.scaleSetId("web-a"), "2")
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AzureAdapterError);
      expect((error as AzureAdapterError).code).toBe("DOWNLOAD_FAILED");
      expect((error as Error).message).toContain("/serialconsole.log");
      expect((error as Error).message).not.toMatch(/\?|sig=/);
    } finally {
      fleet.sim.clearFaults();
    }
  });
});

describe("transport", () => {
  it("does not trust the simulator without its CA", async () => {
    const { ca: _ca, ...withoutCa } = fleet.access;
    const untrusting = createAzureAdapters(withoutCa);
    const error = await untrusting.compute
      .readScaleSetModel(fleet.scaleSetId("web-a"))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AzureAdapterError);
    expect((error as AzureAdapterError).transient).toBe(true);
    expect((error as Error).message).toMatch(/certificate/i);
  });

  it("lets the SDK retry a 5xx, and counts both attempts", async () => {
    fleet.calls.length = 0;
    fleet.sim.addFault({
      kind: "serverError",
      operation: "virtualMachineScaleSetVMs.list",
      status: 503,
      count: 1,
    });
    try {
      expect(await fleet.azure.compute.listInstances(fleet.scaleSetId("web-b"))).toHaveLength(4);
    } finally {
      fleet.sim.clearFaults();
    }
    // The first page failed once and was retried; the second page (two per page) followed.
    expect(fleet.calls.map((call) => call.status)).toEqual([503, 200, 200]);
  });

  it("counts every attempt by operation and status, including a 429 the SDK retried after Retry-After", async () => {
    fleet.calls.length = 0;
    fleet.sim.addFault({
      kind: "throttle",
      operation: "virtualMachineScaleSets.get",
      retryAfterSeconds: 1,
      count: 1,
    });
    try {
      const started = Date.now();
      await fleet.azure.compute.readScaleSetModel(fleet.scaleSetId("web-a"));
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    } finally {
      fleet.sim.clearFaults();
    }
    expect(fleet.calls.map((call) => [call.operation, call.status])).toEqual([
      ["GET virtualMachineScaleSets", 429],
      ["GET virtualMachineScaleSets", 200],
    ]);
  });
});
