/**
 * Scenario events: a timed scale-out, an outage at a simulated time, a model write triggered by the
 * first manualupgrade on a scale set, and a failing action recorded with its error code; seen through
 * the real @azure/arm-compute client and the admin endpoint.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Scenario } from "../../../src/simulator/index.ts";
import { loadScenarioFile, parseScenario, ScenarioError } from "../../../src/simulator/scenario.ts";
import { adminRequest, DEMO, type Harness, RG, startHarness } from "./support.ts";

const FAST = { updateIntervalInMs: 10 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let h: Harness;
let scenario: Scenario;
beforeAll(async () => {
  scenario = await loadScenarioFile(DEMO);
  // Time scale 100: 1 simulated second is 10 ms.
  scenario.events = parseScenario({
    ...scenario,
    events: [
      { name: "grow", at: 40, action: { kind: "scaleOut", scaleSet: "web-b", count: 2 } },
      { name: "arm down", at: 80, action: { kind: "armOutage", simulatedSeconds: 30, retryAfterSeconds: 0 } },
      {
        name: "someone pins 1.1.0",
        after: { operation: "virtualMachineScaleSets.updateInstances", scaleSet: "web-c" },
        delaySeconds: 5,
        action: {
          kind: "foreignModelWrite",
          scaleSet: "web-c",
          image: { gallery: "demoGallery", image: "web", version: "1.1.0" },
        },
      },
      { name: "bad repair", at: 0, action: { kind: "repair", scaleSet: "web-a", instanceId: "42" } },
    ],
  }).events;
  h = await startHarness({ scenario, timeScale: 100 });
});
afterAll(async () => h.close());

describe("scenario events", () => {
  it("a timed scale-out fires at its simulated time, not before", async () => {
    const early = h.sim.events().find((e) => e.name === "grow");
    expect(early?.state).toBe("pending");
    expect((await h.compute.virtualMachineScaleSets.get(RG, "web-b")).sku?.capacity).toBe(4);
    await sleep(Math.max(0, (45_000 - h.sim.simulatedMs()) / 100));
    const grown = h.sim.events().find((e) => e.name === "grow");
    expect(grown).toMatchObject({ state: "fired", result: { instanceIds: ["4", "5"] } });
    expect(grown?.firedAtSimulatedMs).toBeGreaterThanOrEqual(40_000);
    expect((await h.compute.virtualMachineScaleSets.get(RG, "web-b")).sku?.capacity).toBe(6);
  });

  it("the outage event takes ARM down from 80 s to 110 s of simulated time", async () => {
    const until = (simMs: number) => sleep(Math.max(0, (simMs - h.sim.simulatedMs()) / 100));
    await until(90_000);
    expect(h.sim.events().find((e) => e.name === "arm down")?.state).toBe("fired");
    await expect(h.compute.virtualMachineScaleSets.get(RG, "web-a")).rejects.toMatchObject({
      statusCode: 503,
      code: "ServiceUnavailable",
    });
    await until(115_000);
    expect(h.sim.listFaults()).toEqual([]);
    await expect(h.compute.virtualMachineScaleSets.get(RG, "web-a")).resolves.toMatchObject({
      name: "web-a",
    });
  });

  it("a model write triggered by the first manualupgrade on web-c lands its delay after it", async () => {
    expect(h.sim.events().find((e) => e.name === "someone pins 1.1.0")?.state).toBe("pending");
    await h.compute.virtualMachineScaleSets.get(RG, "web-c");
    await h.compute.virtualMachineScaleSets.updateInstances(RG, "web-a", { instanceIds: ["0"] }, FAST);
    expect(h.sim.events().find((e) => e.name === "someone pins 1.1.0")?.state).toBe("pending");

    await h.compute.virtualMachineScaleSets.updateInstances(RG, "web-c", { instanceIds: ["0"] }, FAST);
    await sleep(150);
    const fired = h.sim.events().find((e) => e.name === "someone pins 1.1.0");
    expect(fired?.state).toBe("fired");
    const ss = await h.compute.virtualMachineScaleSets.get(RG, "web-c");
    expect(ss.virtualMachineProfile?.storageProfile?.imageReference?.id).toContain("/versions/1.1.0");
    const upgrade = h.sim.requestLog({
      operation: "virtualMachineScaleSets.updateInstances",
      scaleSet: "web-c",
    });
    expect(fired?.firedAtSimulatedMs).toBeGreaterThanOrEqual((upgrade[0]?.simulatedMs ?? Infinity) + 5000);
  });

  it("a failing action is recorded with its error code; GET /admin/events lists every event", async () => {
    const events = await adminRequest(h.sim, "GET", "/events");
    const value = (events.json as { value: { name: string; state: string; error?: { code: string } }[] })
      .value;
    expect(value.map((e) => e.name)).toEqual(["grow", "arm down", "someone pins 1.1.0", "bad repair"]);
    expect(value.find((e) => e.name === "bad repair")).toMatchObject({
      state: "failed",
      error: { code: "NotFound" },
    });
  });
});

describe("events added at run time", () => {
  it("a repair triggered by the first manualupgrade on web-d (in-process), a timed scale-out over HTTP; 404 for an unknown scale set", async () => {
    const added = h.sim.addEvent({
      name: "repair after upgrade",
      after: { operation: "virtualMachineScaleSets.updateInstances", scaleSet: "web-d" },
      action: { kind: "repair", scaleSet: "web-d", instanceId: "1" },
    });
    expect(added).toMatchObject({ state: "pending", index: 4 });
    await h.compute.virtualMachineScaleSets.updateInstances(RG, "web-d", { instanceIds: ["4"] }, FAST);
    await sleep(50);
    expect(h.sim.events().find((e) => e.name === "repair after upgrade")).toMatchObject({
      state: "fired",
      result: { removedInstanceId: "1", instanceId: "13" },
    });

    const timed = await adminRequest(h.sim, "POST", "/events", {
      name: "late grow",
      at: 0,
      action: { kind: "scaleOut", scaleSet: "web-d", count: 1 },
    });
    expect(timed).toMatchObject({ status: 201, json: { state: "pending" } });
    await sleep(50);
    expect(h.sim.events().find((e) => e.name === "late grow")).toMatchObject({
      state: "fired",
      result: { instanceIds: ["14"] },
    });
    const ids = [];
    for await (const vm of h.compute.virtualMachineScaleSetVMs.list(RG, "web-d")) ids.push(vm.instanceId);
    expect(ids).toEqual(["4", "5", "6", "10", "12", "13", "14"]);

    const unknown = await adminRequest(h.sim, "POST", "/events", {
      at: 0,
      action: { kind: "scaleOut", scaleSet: "nope", count: 1 },
    });
    expect(unknown).toMatchObject({ status: 404, json: { error: { code: "NotFound" } } });
  });
});

describe("event schema", () => {
  it("refuses an event with both at and after, a bad count, an unknown scale set; naming the field", async () => {
    const base = await loadScenarioFile(DEMO);
    expect(() =>
      parseScenario({
        ...base,
        events: [
          {
            at: 1,
            after: { operation: "virtualMachineScaleSets.updateInstances" },
            action: { kind: "scaleOut", scaleSet: "web-a", count: 1 },
          },
        ],
      }),
    ).toThrow(ScenarioError);
    expect(() =>
      parseScenario({
        ...base,
        events: [{ at: 1, action: { kind: "scaleOut", scaleSet: "web-a", count: 0 } }],
      }),
    ).toThrow(/events\.0\.action\.count/);
    expect(() =>
      parseScenario({
        ...base,
        events: [
          {
            after: { operation: "virtualMachineScaleSets.updateInstances", scaleSet: "web-zz" },
            action: { kind: "repair", scaleSet: "web-a", instanceId: "0" },
          },
        ],
      }),
    ).toThrow(/events\.0\.after\.scaleSet: no scale set web-zz/);
  });
});
