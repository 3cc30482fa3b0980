/**
 * A scale set whose model says `latest` for a marketplace image: preflight records the exact
 * version the instances run, and a rollback restores that version, not whatever is newest then.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEffectExecutor } from "../../../src/effects/create-effect-executor.ts";
import { parseScenario } from "../../../src/simulator/index.ts";
import { type DemoFleet, startDemoFleet } from "../azure/demo-simulator.ts";
import { drive, engineConfig, spec } from "./drive-effect.ts";

const ubuntu = { publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server" };
const older = "24.04.202609010";
const newest = "24.04.202610150";

const scenario = parseScenario({
  subscriptionId: "0b7e5c1a-1111-4222-8333-944455556666",
  timing: { modelUpdateSeconds: 1, instanceUpgradeSeconds: 3 },
  resourceGroups: [
    {
      name: "rg-demo",
      scaleSets: [
        { name: "ubuntu-a", location: "westeurope", capacity: 2, image: { ...ubuntu, version: "latest" } },
      ],
    },
  ],
  marketplaceImages: [{ location: "westeurope", ...ubuntu, versions: [{ name: older }, { name: newest }] }],
});

let fleet: DemoFleet;

beforeAll(async () => {
  fleet = await startDemoFleet({ timeScale: 60, scenario });
});
afterAll(async () => {
  await fleet?.close();
});

describe("a marketplace scale set on `latest`", () => {
  it("records the exact version as previous and rolls back to exactly that version", async () => {
    const execute = createEffectExecutor({ azure: fleet.azure, config: engineConfig, allowLatestFor: [] });
    const scaleSetId = fleet.scaleSetId("ubuntu-a");
    const rollout = spec({
      image: { urn: `Canonical:ubuntu-24_04-lts:server:${older}` },
      waves: [{ name: "w", scaleSets: [scaleSetId] }],
    });

    const preflight = await drive(execute, { kind: "preflight" }, { spec: rollout });
    if (preflight.outcome.type !== "preflight.passed") throw new Error(JSON.stringify(preflight.outcome));
    const previous = preflight.outcome.scaleSets[0]?.imageReference ?? {};
    expect(previous).toEqual({ ...ubuntu, version: "latest", exactVersion: newest });
    const target = preflight.outcome.resolvedImage;

    expect(
      (await drive(execute, { kind: "setModelImage", scaleSetId, target, previous }, { spec: rollout }))
        .outcome.type,
    ).toBe("model.updated");
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
    expect((await fleet.azure.compute.readModelImage(scaleSetId)).imageReference).toMatchObject({
      ...ubuntu,
      version: newest,
    });
    const back = await drive(
      execute,
      { kind: "upgradeInstances", scaleSetId, instanceIds: ["0"], image: previous, purpose: "rollback" },
      { spec: rollout },
    );
    if (back.outcome.type !== "instances.upgraded") throw new Error(JSON.stringify(back.outcome));
    expect(back.outcome.instances[0]?.imageReference).toMatchObject({ exactVersion: newest });
    // Reverting again finds the pinned previous version in the model: nothing to do.
    expect(
      (await drive(execute, { kind: "revertModel", scaleSetId, previous, target }, { spec: rollout })).steps,
    ).toHaveLength(1);
  });

  it("resolves a `latest` target to the newest version offered when allowed", async () => {
    const execute = createEffectExecutor({
      azure: fleet.azure,
      config: engineConfig,
      allowLatestFor: ["*/ubuntu-*"],
    });
    const rollout = spec({
      image: { urn: "Canonical:ubuntu-24_04-lts:server:latest" },
      waves: [{ name: "w", scaleSets: [fleet.scaleSetId("ubuntu-a")] }],
    });
    const { outcome } = await drive(execute, { kind: "preflight" }, { spec: rollout });
    expect(outcome).toMatchObject({
      type: "preflight.passed",
      resolvedImage: { ...ubuntu, version: newest },
    });
  });
});
