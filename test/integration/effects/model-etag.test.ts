/**
 * A model write carries the ETag it read as If-Match: someone else's write that lands between
 * canaryd's read and its write is refused by Azure (412), never overwritten, and the next step's
 * read reports it as model.conflict.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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

describe("setModelImage with If-Match", () => {
  it("does not overwrite a write that lands between its read and its write", async () => {
    const scaleSetId = fleet.scaleSetId("web-a");
    const image = (v: string) => ({ id: fleet.versionId(v) });
    const execute = createEffectExecutor({ azure: fleet.azure, config: engineConfig, allowLatestFor: [] });
    const hold = fleet.sim.addFault({ kind: "hold", operation: "virtualMachineScaleSets.update", count: 1 });
    const running = drive(
      execute,
      { kind: "setModelImage", scaleSetId, target: image("1.1.0"), previous: image("1.0.0") },
      {
        spec: spec({
          image: { galleryImageVersionId: image("1.1.0").id },
          waves: [{ name: "w", scaleSets: [scaleSetId] }],
        }),
      },
    );
    // canaryd read 1.0.0 and sent its PATCH; someone else's write lands before Azure handles it.
    await fleet.sim.waitForHeld("virtualMachineScaleSets.update");
    fleet.sim.foreignModelWrite("web-a", { gallery: "demoGallery", image: "web", version: "1.5.0" });
    fleet.sim.release(hold.id);

    const { outcome } = await running;
    expect(outcome).toEqual({ type: "model.conflict", scaleSetId, found: image("1.5.0") });
    const writes = fleet.sim.requestLog({ operation: "virtualMachineScaleSets.update", scaleSet: "web-a" });
    expect(writes.map((w) => w.status)).toEqual([412]);
    expect((await fleet.azure.compute.readModelImage(scaleSetId)).imageReference?.id?.toLowerCase()).toBe(
      image("1.5.0").id.toLowerCase(),
    );
  });
});
