/** Model writes and manual upgrades: written once, observed to the end, never overwriting or repeating. */
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { createEffectExecutor } from "../../../src/effects/create-effect-executor.ts";
import { type DemoFleet, startDemoFleet } from "../azure/demo-simulator.ts";
import { drive, engineConfig, spec } from "./drive-effect.ts";

let fleet: DemoFleet;

beforeAll(async () => {
  fleet = await startDemoFleet({ timeScale: 60 });
});
afterAll(async () => {
  await fleet?.close();
});

const execute = () => createEffectExecutor({ azure: fleet.azure, config: engineConfig, allowLatestFor: [] });
const rolloutOf = (scaleSet: string) =>
  spec({
    image: { galleryImageVersionId: fleet.versionId("1.1.0") },
    waves: [{ name: "w", scaleSets: [fleet.scaleSetId(scaleSet)] }],
  });
const image = (version: string) => ({ id: fleet.versionId(version) });
const writes = () => fleet.sim.requestLog({ operation: "virtualMachineScaleSets.update" }).length;
const upgrades = () => fleet.sim.requestLog({ operation: "virtualMachineScaleSets.updateInstances" });

describe("setModelImage and revertModel", () => {
  it("writes the target once and reports model.updated after the write finished; a repeat writes nothing", async () => {
    const scaleSetId = fleet.scaleSetId("web-a");
    const request = {
      kind: "setModelImage" as const,
      scaleSetId,
      target: image("1.1.0"),
      previous: image("1.0.0"),
    };
    fleet.sim.clearRequestLog();
    const { outcome } = await drive(execute(), request, { spec: rolloutOf("web-a") });
    expect(outcome).toEqual({ type: "model.updated", scaleSetId });
    expect(writes()).toBe(1);
    expect((await fleet.azure.compute.readModelImage(scaleSetId)).imageReference).toEqual(image("1.1.0"));

    const again = await drive(execute(), request, { spec: rolloutOf("web-a") });
    expect(again.outcome).toEqual({ type: "model.updated", scaleSetId });
    expect(again.steps).toHaveLength(1);
    expect(writes()).toBe(1);
  });

  it("stops with model.conflict, writing nothing, when the model holds neither previous nor target", async () => {
    const scaleSetId = fleet.scaleSetId("web-b");
    fleet.sim.clearRequestLog();
    const { outcome } = await drive(
      execute(),
      { kind: "setModelImage", scaleSetId, target: image("1.1.0"), previous: image("1.3.0") },
      { spec: rolloutOf("web-b") },
    );
    expect(outcome).toEqual({ type: "model.conflict", scaleSetId, found: image("1.0.0") });
    expect(writes()).toBe(0);
  });

  it("reverts to exactly the recorded previous reference and is idempotent", async () => {
    const scaleSetId = fleet.scaleSetId("web-a");
    const request = {
      kind: "revertModel" as const,
      scaleSetId,
      previous: image("1.0.0"),
      target: image("1.1.0"),
    };
    const { outcome } = await drive(execute(), request, { spec: rolloutOf("web-a") });
    expect(outcome).toEqual({ type: "model.reverted", scaleSetId });
    expect((await fleet.azure.compute.readModelImage(scaleSetId)).imageReference).toEqual(image("1.0.0"));
    fleet.sim.clearRequestLog();
    expect((await drive(execute(), request, { spec: rolloutOf("web-a") })).outcome.type).toBe(
      "model.reverted",
    );
    expect(writes()).toBe(0);
  });

  it("waits while another model write still runs on the scale set, then writes", async () => {
    // Time scale 1: the other write keeps the scale set Updating for a whole wall-clock second.
    const slow = await startDemoFleet({ timeScale: 1 });
    onTestFinished(() => slow.close());
    const scaleSetId = slow.scaleSetId("web-b");
    await slow.azure.compute.startModelImageUpdate(scaleSetId, { id: slow.versionId("1.0.0") });
    slow.sim.clearRequestLog();
    const { outcome, steps } = await drive(
      createEffectExecutor({ azure: slow.azure, config: engineConfig, allowLatestFor: [] }),
      {
        kind: "setModelImage",
        scaleSetId,
        target: { id: slow.versionId("1.1.0") },
        previous: { id: slow.versionId("1.0.0") },
      },
      { spec: rolloutOf("web-b") },
    );
    expect(outcome).toEqual({ type: "model.updated", scaleSetId });
    expect(steps[0]).toMatchObject({ done: false, progress: { writes: 0 } });
    expect(slow.sim.requestLog({ operation: "virtualMachineScaleSets.update" })).toHaveLength(1);
  });

  it("refuses to revert over someone else's change with model.conflict", async () => {
    const scaleSetId = fleet.scaleSetId("web-b");
    const { outcome } = await drive(
      execute(),
      { kind: "revertModel", scaleSetId, previous: image("1.3.0"), target: image("1.4.0") },
      { spec: rolloutOf("web-b") },
    );
    expect(outcome).toEqual({ type: "model.conflict", scaleSetId, found: image("1.0.0") });
  });
});

describe("upgradeInstances", () => {
  it("upgrades a batch with one updateInstances call and observes it until every instance is back on the image", async () => {
    const scaleSetId = fleet.scaleSetId("web-d");
    await drive(
      execute(),
      { kind: "setModelImage", scaleSetId, target: image("1.1.0"), previous: image("1.0.0") },
      { spec: rolloutOf("web-d") },
    );
    fleet.sim.clearRequestLog();
    const batch = ["1", "4", "5", "6", "10"];
    const { outcome, steps } = await drive(
      execute(),
      { kind: "upgradeInstances", scaleSetId, instanceIds: batch, image: image("1.1.0"), purpose: "rollout" },
      { spec: rolloutOf("web-d") },
    );
    if (outcome.type !== "instances.upgraded") throw new Error(JSON.stringify(outcome));
    expect(outcome.instances.map((instance) => instance.instanceId)).toEqual(batch);
    for (const instance of outcome.instances) {
      expect(instance).toMatchObject({
        provisioningState: "Succeeded",
        latestModelApplied: true,
        imageReference: { exactVersion: "1.1.0" },
      });
    }
    expect(upgrades()).toHaveLength(1);
    const armCalls = fleet.sim.requestLog().filter((entry) => !entry.operation.startsWith("admin."));
    // One list per step, the model read before the one manual upgrade (the guard) and the upgrade;
    // nothing per instance.
    expect(armCalls).toHaveLength(steps.length + 2);
    const upgradeAt = armCalls.findIndex((c) => c.operation === "virtualMachineScaleSets.updateInstances");
    expect(armCalls[upgradeAt - 1]?.operation).toBe("virtualMachineScaleSets.get");
    console.info(
      `ARM calls for a batch of ${batch.length} instances: ${armCalls.length} (${(armCalls.length / batch.length).toFixed(2)} per instance, ${steps.length} observation steps at ${engineConfig.pollIntervalSeconds} s)`,
    );
    expect(
      fleet.sim.instanceImages(scaleSetId).find((instance) => instance.instanceId === "12")?.version,
    ).toBe("1.0.0");
  });

  it("after a crash observes a half-done upgrade and issues only what was never issued", async () => {
    const scaleSetId = fleet.scaleSetId("web-c");
    await drive(
      execute(),
      { kind: "setModelImage", scaleSetId, target: image("1.1.0"), previous: image("1.0.0") },
      { spec: rolloutOf("web-c") },
    );
    // The crashed worker had submitted instance 0's upgrade but not recorded it.
    await fleet.azure.compute.startManualUpgrade(scaleSetId, ["0"]);
    fleet.sim.clearRequestLog();
    const { outcome, steps } = await drive(
      execute(),
      {
        kind: "upgradeInstances",
        scaleSetId,
        instanceIds: ["0", "1"],
        image: image("1.1.0"),
        purpose: "rollout",
      },
      { spec: rolloutOf("web-c") },
    );
    expect(outcome.type).toBe("instances.upgraded");
    const recorded = steps.flatMap((step) =>
      step.done ? [] : (step.progress.issued as { instanceIds: string[] }[]),
    );
    expect(new Set(recorded.flatMap((call) => call.instanceIds))).toEqual(new Set(["1"]));
    // Instance 0 was already updating: the effect issued the upgrade for instance 1 alone (Azure
    // answers 409 while instance 0's upgrade still runs; the effect waits and issues it after).
    const accepted = upgrades().filter((entry) => entry.status < 300);
    expect(accepted).toHaveLength(1);
    expect(
      fleet.sim
        .instanceImages(scaleSetId)
        .filter((i) => ["0", "1"].includes(i.instanceId))
        .map((i) => i.version),
    ).toEqual(["1.1.0", "1.1.0"]);
    fleet.sim.clearRequestLog();
    const repeat = await drive(
      execute(),
      {
        kind: "upgradeInstances",
        scaleSetId,
        instanceIds: ["0", "1"],
        image: image("1.1.0"),
        purpose: "rollout",
      },
      { spec: rolloutOf("web-c") },
    );
    expect(repeat.outcome.type).toBe("instances.upgraded");
    expect(upgrades()).toHaveLength(0);
  });

  it("reports an allocation failure as a platform failure a person can act on", async () => {
    const scaleSetId = fleet.scaleSetId("web-c");
    fleet.sim.addFault({
      kind: "instanceFailsProvisioning",
      scaleSet: "web-c",
      instanceId: "2",
      errorCode: "AllocationFailed",
    });
    const { outcome } = await drive(
      execute(),
      { kind: "upgradeInstances", scaleSetId, instanceIds: ["2"], image: image("1.1.0"), purpose: "rollout" },
      { spec: rolloutOf("web-c") },
    );
    expect(outcome).toMatchObject({
      type: "instances.upgradeFailed",
      scaleSetId,
      platformFailure: true,
      reason: expect.stringContaining("2 (AllocationFailed)"),
    });
  });

  it("gives up on an instance that never comes back after the upgrade timeout, by the engine's clock", async () => {
    const scaleSetId = fleet.scaleSetId("web-c");
    fleet.sim.addFault({ kind: "instanceNeverReturns", scaleSet: "web-c", instanceId: "3" });
    let clock = Date.now();
    const { outcome } = await drive(
      execute(),
      { kind: "upgradeInstances", scaleSetId, instanceIds: ["3"], image: image("1.1.0"), purpose: "rollout" },
      {
        spec: rolloutOf("web-c"),
        now: () => {
          clock += 10_000;
          return new Date(clock);
        },
      },
    );
    expect(outcome).toMatchObject({
      type: "instances.upgradeFailed",
      platformFailure: true,
      reason: expect.stringContaining(`instances 3 of ${scaleSetId} did not come back`),
    });
    fleet.sim.clearFaults();
  });
});

describe("observeScaleSet", () => {
  it("reports the instances the rollout did not know", async () => {
    const scaleSetId = fleet.scaleSetId("web-b");
    const { outcome } = await drive(
      execute(),
      { kind: "observeScaleSet", scaleSetId, knownInstanceIds: ["0", "1"] },
      { spec: rolloutOf("web-b") },
    );
    if (outcome.type !== "scaleSet.observed") throw new Error(outcome.type);
    expect(outcome.newInstances.map((instance) => instance.instanceId)).toEqual(["2", "3"]);
  });
});
