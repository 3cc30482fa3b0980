/** Contract: Azure Monitor batch metrics, faults, auth and state persistence, through the real SDK clients. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ComputeManagementClient, restorePoller } from "@azure/arm-compute";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StaticTokenCredential, simulatorClientOptions } from "../../../src/simulator/index.ts";
import { type Harness, RG, startHarness } from "./support.ts";

const FAST = { updateIntervalInMs: 10 };
const NAMESPACE = "Microsoft.Compute/virtualMachineScaleSets";
const imageOf = (h: Harness, version: string) => ({
  virtualMachineProfile: { storageProfile: { imageReference: { id: h.versionId(version) } } },
});

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => h.close());

describe("batch metrics", () => {
  it("splits by VMName, honours top, and reports each instance's version's CPU", async () => {
    await h.compute.virtualMachineScaleSets.update(RG, "web-b", imageOf(h, "1.4.0"), FAST);
    await h.compute.virtualMachineScaleSets.updateInstances(RG, "web-b", { instanceIds: ["0"] }, FAST);
    const client = h.metrics("westeurope");
    const window = { startTime: new Date(Date.now() - 5 * 60_000), endTime: new Date(Date.now() + 60_000) };
    const [result] = await client.queryResources([h.scaleSetId("web-b")], ["Percentage CPU"], NAMESPACE, {
      ...window,
      filter: "VMName eq '*'",
      top: 20,
      interval: "PT1M",
      aggregation: "average",
    });
    const series = result?.getMetricByName("Percentage CPU")?.timeseries ?? [];
    expect(series.map((s) => s.metadatavalues?.[0]?.value)).toEqual([
      "web-b_0",
      "web-b_1",
      "web-b_2",
      "web-b_3",
    ]);
    const last = (name: string) =>
      series
        .find((s) => s.metadatavalues?.[0]?.value === name)
        ?.data?.filter((d) => typeof d.average === "number")
        .at(-1)?.average ?? -1;
    expect(last("web-b_0")).toBeGreaterThan(85);
    expect(last("web-b_1")).toBeGreaterThanOrEqual(18);
    expect(last("web-b_1")).toBeLessThanOrEqual(37);
    expect(result?.resourceRegion).toBe("westeurope");

    const [limited] = await client.queryResources([h.scaleSetId("web-b")], ["Percentage CPU"], NAMESPACE, {
      ...window,
      filter: "VMName eq '*'",
      top: 2,
    });
    expect(limited?.metrics[0]?.timeseries).toHaveLength(2);
  });

  it("refuses a metric Azure Monitor does not know for scale sets", async () => {
    await expect(
      h.metrics("westeurope").queryResources([h.scaleSetId("web-a")], ["Percentage CPUU"], NAMESPACE),
    ).rejects.toMatchObject({ statusCode: 400 });
  });

  it("refuses a batch mixing regions, as Azure does", async () => {
    const client = h.metrics("westeurope");
    await expect(
      client.queryResources([h.scaleSetId("web-a"), h.scaleSetId("web-c")], ["Percentage CPU"], NAMESPACE),
    ).rejects.toMatchObject({ statusCode: 400 });
  });
});

describe("faults", () => {
  it("a 429 with Retry-After is retried by the SDK after the delay", async () => {
    const fault = h.sim.addFault({
      kind: "throttle",
      operation: "virtualMachineScaleSets.get",
      count: 1,
      retryAfterSeconds: 1,
    });
    const ss = await h.compute.virtualMachineScaleSets.get(RG, "web-a");
    expect(ss.name).toBe("web-a");
    const calls = h.sim.requestLog({ operation: "virtualMachineScaleSets.get" }).slice(-2);
    expect(calls.map((c) => c.status)).toEqual([429, 200]);
    const gap = Date.parse(calls[1]?.time ?? "") - Date.parse(calls[0]?.time ?? "");
    expect(gap).toBeGreaterThanOrEqual(950);
    h.sim.removeFault(fault.id);
  });

  it("an LRO that ends Failed rejects the poller with the operation's error", async () => {
    h.sim.addFault({
      kind: "failLro",
      operation: "virtualMachineScaleSets.updateInstances",
      count: 1,
      errorCode: "InternalExecutionError",
    });
    await h.compute.virtualMachineScaleSets.update(RG, "web-a", imageOf(h, "1.1.0"), FAST);
    await expect(
      h.compute.virtualMachineScaleSets.updateInstances(RG, "web-a", { instanceIds: ["0"] }, FAST),
    ).rejects.toThrow(/InternalExecutionError|internal execution error/i);
  });

  it("an instance that fails provisioning ends the upgrade Failed and shows AllocationFailed", async () => {
    h.sim.addFault({ kind: "instanceFailsProvisioning", scaleSet: "web-a", instanceId: "2" });
    await expect(
      h.compute.virtualMachineScaleSets.updateInstances(RG, "web-a", { instanceIds: ["2"] }, FAST),
    ).rejects.toThrow();
    const vm = await h.compute.virtualMachineScaleSetVMs.get(RG, "web-a", "2", { expand: "instanceView" });
    expect(vm.provisioningState).toBe("Failed");
    expect(vm.instanceView?.statuses?.[0]?.code).toBe("ProvisioningState/failed/AllocationFailed");
  });

  it("a write while an LRO is in progress is a 409 Conflict", async () => {
    h.sim.addFault({ kind: "instanceNeverReturns", scaleSet: "web-d", instanceId: "4" });
    await h.compute.virtualMachineScaleSets.update(RG, "web-d", imageOf(h, "1.1.0"), FAST);
    const stuck = h.compute.virtualMachineScaleSets.updateInstances(
      RG,
      "web-d",
      { instanceIds: ["4"] },
      FAST,
    );
    await stuck.submitted();
    await expect(
      h.compute.virtualMachineScaleSets.update(RG, "web-d", imageOf(h, "1.0.0"), FAST),
    ).rejects.toMatchObject({
      statusCode: 409,
      code: "Conflict",
    });
  });

  it("hold keeps requests waiting until released, and a test can wait until one is held", async () => {
    const hold = h.sim.addFault({
      kind: "hold",
      operation: "virtualMachineScaleSets.getInstanceView",
      count: 1,
    });
    let answered = false;
    const pending = h.compute.virtualMachineScaleSets.getInstanceView(RG, "web-c").then((v) => {
      answered = true;
      return v;
    });
    await h.sim.waitForHeld("virtualMachineScaleSets.getInstanceView");
    expect(answered).toBe(false);
    expect(h.sim.release(hold.id)).toBe(1);
    expect((await pending).virtualMachine?.statusesSummary?.length).toBeGreaterThan(0);
  });

  it("a request without the bearer token is 401", async () => {
    const res = await fetchWithCa(
      `${h.sim.connection.resourceManagerEndpoint}/subscriptions/${h.sim.connection.subscriptionId}/providers/Microsoft.Compute/virtualMachineScaleSets?api-version=2026-04-01`,
    );
    expect(res.status).toBe(401);
    expect(JSON.parse(res.body).error.code).toBe("AuthenticationFailed");
    const wrong = new ComputeManagementClient(
      new StaticTokenCredential("wrong"),
      h.sim.connection.subscriptionId,
      simulatorClientOptions(h.sim.connection),
    );
    await expect(wrong.virtualMachineScaleSets.get(RG, "web-a")).rejects.toMatchObject({ statusCode: 401 });
  });
});

describe("long-running operations across restarts", () => {
  it("a serialized poller restored by a new client observes the operation to its end", async () => {
    await h.compute.virtualMachineScaleSets.update(RG, "web-a", imageOf(h, "1.1.0"), FAST);
    const poller = h.compute.virtualMachineScaleSets.updateInstances(
      RG,
      "web-a",
      { instanceIds: ["7"] },
      FAST,
    );
    await poller.submitted();
    const serialized = await poller.serialize();
    const other = new ComputeManagementClient(
      new StaticTokenCredential(h.sim.connection.token),
      h.sim.connection.subscriptionId,
      simulatorClientOptions(h.sim.connection),
    );
    const restored = restorePoller(other, serialized, other.virtualMachineScaleSets.updateInstances, FAST);
    await restored.pollUntilDone();
    expect(restored.operationState?.status).toBe("succeeded");
    await poller;
    expect(h.sim.instanceImages(h.scaleSetId("web-a")).find((i) => i.instanceId === "7")?.version).toBe(
      "1.1.0",
    );
  });

  it("an operation in progress when the simulator stops completes after it restarts with its state", async () => {
    const dir = await mkdtemp(join(tmpdir(), "canaryd-sim-lro-"));
    const stateFile = join(dir, "state.json");
    try {
      const first = await startHarness({ stateFile, certDir: dir, timeScale: 1 });
      const port = Number(new URL(first.sim.connection.resourceManagerEndpoint).port);
      await first.compute.virtualMachineScaleSets.update(RG, "web-b", imageOf(first, "1.1.0"), FAST);
      // The first "daemon" stops observing (abort) before the simulator goes down.
      const stop = new AbortController();
      const poller = first.compute.virtualMachineScaleSets.updateInstances(
        RG,
        "web-b",
        { instanceIds: ["2"] },
        {
          ...FAST,
          abortSignal: stop.signal,
        },
      );
      await poller.submitted();
      const serialized = await poller.serialize();
      stop.abort();
      await expect(poller).rejects.toThrow();
      const before = first.sim.instanceImages(first.scaleSetId("web-b")).find((i) => i.instanceId === "2");
      expect(before?.provisioningState).toBe("Updating");
      await first.sim.close();

      const second = await startHarness({ stateFile, certDir: dir, port, timeScale: 50 });
      const restored = restorePoller(
        second.compute,
        serialized,
        second.compute.virtualMachineScaleSets.updateInstances,
        FAST,
      );
      await restored.pollUntilDone();
      expect(
        second.sim.instanceImages(second.scaleSetId("web-b")).find((i) => i.instanceId === "2")?.version,
      ).toBe("1.1.0");
      await second.sim.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("state file", () => {
  it("a restarted simulator continues where it was; --fresh starts from the scenario", async () => {
    const dir = await mkdtemp(join(tmpdir(), "canaryd-sim-state-"));
    const stateFile = join(dir, "state.json");
    try {
      const first = await startHarness({ stateFile, certDir: dir });
      await first.compute.virtualMachineScaleSets.update(RG, "web-c", imageOf(first, "1.1.0"), FAST);
      await first.compute.virtualMachineScaleSets.updateInstances(RG, "web-c", { instanceIds: ["3"] }, FAST);
      const token = first.sim.connection.token;
      await first.sim.close();

      const second = await startHarness({ stateFile, certDir: dir });
      expect(second.sim.connection.token).toBe(token);
      const vm = await second.compute.virtualMachineScaleSetVMs.get(RG, "web-c", "3");
      expect(vm.storageProfile?.imageReference?.exactVersion).toBe("1.1.0");
      await second.sim.close();

      const fresh = await startHarness({ stateFile, certDir: dir, fresh: true });
      const again = await fresh.compute.virtualMachineScaleSetVMs.get(RG, "web-c", "3");
      expect(again.storageProfile?.imageReference?.exactVersion).toBe("1.0.0");
      await fresh.sim.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

async function fetchWithCa(url: string): Promise<{ status: number; body: string }> {
  const { request } = await import("node:https");
  return new Promise((resolve, reject) => {
    request(url, { ca: h.sim.connection.caCert }, (res) => {
      let body = "";
      res.on("data", (c) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    })
      .on("error", reject)
      .end();
  });
}
