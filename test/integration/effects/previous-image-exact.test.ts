/**
 * A scale set whose model names a gallery image definition (no version: "latest") cannot be told
 * to be "back on the previous image" unless the previous image is exact. Through the real SDK
 * against the simulator: preflight records the one version every instance runs (with a
 * previousImageResolved notice) and a rollback restores exactly it; instances on several versions
 * are refused.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEffectExecutor } from "../../../src/effects/create-effect-executor.ts";
import { parseScenario } from "../../../src/simulator/index.ts";
import { type DemoFleet, startDemoFleet } from "../azure/demo-simulator.ts";
import { drive, engineConfig, spec } from "./drive-effect.ts";

const subscriptionId = "0b7e5c1a-1111-4222-8333-944455556666";
const rg = `/subscriptions/${subscriptionId}/resourceGroups/rg-demo/providers/Microsoft.Compute`;
const definition = `${rg}/galleries/demoGallery/images/web`;
const version = (v: string) => `${definition}/versions/${v}`;

const scenario = parseScenario({
  subscriptionId,
  timing: { modelUpdateSeconds: 1, instanceUpgradeSeconds: 3 },
  resourceGroups: [
    {
      name: "rg-demo",
      galleries: [
        {
          name: "demoGallery",
          location: "westeurope",
          images: [
            {
              name: "web",
              versions: [
                { name: "1.0.0", targetRegions: ["westeurope"] },
                { name: "1.1.0", targetRegions: ["westeurope"] },
                // Not what "latest" means: the instances on the definition run 1.1.0.
                { name: "1.2.0", targetRegions: ["westeurope"], excludeFromLatest: true },
              ],
            },
          ],
        },
      ],
      scaleSets: [
        { name: "web-def", location: "westeurope", capacity: 3, image: { id: definition } },
        { name: "web-mixed", location: "westeurope", capacity: 3, image: { id: definition } },
      ],
    },
  ],
});

let fleet: DemoFleet;
beforeAll(async () => {
  fleet = await startDemoFleet({ timeScale: 60, scenario });
});
afterAll(async () => {
  await fleet?.close();
});

const executor = () => createEffectExecutor({ azure: fleet.azure, config: engineConfig, allowLatestFor: [] });

describe("a scale set whose model names an image definition", () => {
  it("records the one exact version its instances run, says so, and rolls back to exactly it", async () => {
    const execute = executor();
    const scaleSetId = fleet.scaleSetId("web-def");
    const rollout = spec({
      image: { galleryImageVersionId: version("1.2.0") },
      waves: [{ name: "w", scaleSets: [scaleSetId] }],
    });

    const preflight = await drive(execute, { kind: "preflight" }, { spec: rollout });
    if (preflight.outcome.type !== "preflight.passed") throw new Error(JSON.stringify(preflight.outcome));
    const previous = preflight.outcome.scaleSets[0]?.imageReference ?? {};
    expect(previous).toEqual({ id: definition, exactVersion: "1.1.0" });
    expect(preflight.outcome.notices).toEqual([
      expect.objectContaining({
        scaleSetId,
        code: "previousImageResolved",
        message: expect.stringMatching(/web-def.*every instance runs 1\.1\.0/),
      }),
    ]);
    const target = preflight.outcome.resolvedImage;

    const forward = await drive(
      execute,
      { kind: "setModelImage", scaleSetId, target, previous },
      { spec: rollout },
    );
    expect(forward.outcome.type).toBe("model.updated");
    const up = await drive(
      execute,
      { kind: "upgradeInstances", scaleSetId, instanceIds: ["0"], image: target, purpose: "rollout" },
      { spec: rollout },
    );
    expect(up.outcome.type).toBe("instances.upgraded");

    const reverted = await drive(
      execute,
      { kind: "revertModel", scaleSetId, previous, target },
      { spec: rollout },
    );
    expect(reverted.outcome.type).toBe("model.reverted");
    // The revert wrote the exact version, not the definition (which would mean whatever is newest then).
    expect((await fleet.azure.compute.readModelImage(scaleSetId)).imageReference?.id).toBe(version("1.1.0"));
    const back = await drive(
      execute,
      { kind: "upgradeInstances", scaleSetId, instanceIds: ["0"], image: previous, purpose: "rollback" },
      { spec: rollout },
    );
    if (back.outcome.type !== "instances.upgraded") throw new Error(JSON.stringify(back.outcome));
    expect(back.outcome.instances[0]?.imageReference).toMatchObject({ exactVersion: "1.1.0" });
  });

  it("is refused, naming the scale set and the versions, when its instances run several versions", async () => {
    const execute = executor();
    const scaleSetId = fleet.scaleSetId("web-mixed");
    const onDefinition = { id: definition };
    const target = { id: version("1.2.0") };
    const waves = [{ name: "w", scaleSets: [scaleSetId] }];
    const setup = spec({ image: { galleryImageVersionId: version("1.2.0") }, waves });
    // Instance 0 moves to 1.2.0, then the model goes back to the definition: 1.1.0 and 1.2.0 now run.
    await drive(
      execute,
      { kind: "setModelImage", scaleSetId, target, previous: onDefinition },
      { spec: setup },
    );
    await drive(
      execute,
      { kind: "upgradeInstances", scaleSetId, instanceIds: ["0"], image: target, purpose: "rollout" },
      { spec: setup },
    );
    await drive(
      execute,
      { kind: "revertModel", scaleSetId, previous: onDefinition, target },
      { spec: setup },
    );
    expect((await fleet.azure.compute.readModelImage(scaleSetId)).imageReference?.id).toBe(definition);

    const rollout = spec({ image: { galleryImageVersionId: version("1.0.0") }, waves });
    const preflight = await drive(execute, { kind: "preflight" }, { spec: rollout });
    if (preflight.outcome.type !== "preflight.refused") throw new Error(JSON.stringify(preflight.outcome));
    expect(preflight.outcome.findings).toEqual([
      expect.objectContaining({
        scaleSetId,
        code: "PREVIOUS_IMAGE_NOT_EXACT",
        message: expect.stringMatching(/web-mixed.*instances run 1\.1\.0, 1\.2\.0/),
      }),
    ]);
  });
});
