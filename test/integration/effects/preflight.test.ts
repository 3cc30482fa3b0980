/** Preflight and replication checks against the demo fleet through the real SDK. */
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import type { PreflightFinding } from "../../../src/domain/effects.ts";
import { createEffectExecutor } from "../../../src/effects/create-effect-executor.ts";
import { parseScenario } from "../../../src/simulator/index.ts";
import { type DemoFleet, startDemoFleet } from "../azure/demo-simulator.ts";
import { drive, engineConfig, spec } from "./drive-effect.ts";

let fleet: DemoFleet;

beforeAll(async () => {
  fleet = await startDemoFleet({ timeScale: 600 });
});
afterAll(async () => {
  await fleet?.close();
});

function executor(target: DemoFleet, allowLatestFor: string[] = []) {
  return createEffectExecutor({ azure: target.azure, config: engineConfig, allowLatestFor });
}

describe("preflight", () => {
  it("passes and records every scale set's current image as its previous version", async () => {
    const rollout = spec({
      image: { galleryImageVersionId: fleet.versionId("1.1.0") },
      waves: [
        { name: "first", scaleSets: [fleet.scaleSetId("web-a")] },
        { name: "rest", scaleSets: [fleet.scaleSetId("web-c"), fleet.scaleSetId("web-d")] },
      ],
    });
    const { outcome } = await drive(executor(fleet), { kind: "preflight" }, { spec: rollout });
    if (outcome.type !== "preflight.passed")
      throw new Error(`expected a pass, got ${JSON.stringify(outcome)}`);
    expect(outcome.resolvedImage).toEqual({ id: fleet.versionId("1.1.0") });
    expect(outcome.replication).toBe("completed");
    expect(outcome.scaleSets.map((facts) => [facts.name, facts.location, facts.instances.length])).toEqual([
      ["web-a", "westeurope", 5],
      ["web-c", "northeurope", 4],
      ["web-d", "northeurope", 6],
    ]);
    for (const facts of outcome.scaleSets)
      expect(facts.imageReference).toEqual({ id: fleet.versionId("1.0.0") });
  });

  it("refuses with every finding at once, each naming the scale set or region and the rule", async () => {
    const rollout = spec({
      image: { galleryImageVersionId: fleet.versionId("1.5.0") },
      waves: [
        { name: "first", scaleSets: [fleet.scaleSetId("web-auto"), fleet.scaleSetId("web-c")] },
        { name: "rest", scaleSets: [fleet.scaleSetId("web-missing")] },
      ],
    });
    const { outcome } = await drive(executor(fleet), { kind: "preflight" }, { spec: rollout });
    if (outcome.type !== "preflight.refused") throw new Error(`expected a refusal, got ${outcome.type}`);
    const byCode = (code: string) =>
      outcome.findings.filter((finding: PreflightFinding) => finding.code === code);
    expect(byCode("UPGRADE_POLICY_NOT_MANUAL")).toEqual([
      expect.objectContaining({
        scaleSetId: fleet.scaleSetId("web-auto"),
        message: expect.stringContaining("web-auto has upgrade policy Automatic"),
      }),
    ]);
    expect(byCode("REPLICATION_FAILED")).toEqual([
      expect.objectContaining({
        scaleSetId: fleet.scaleSetId("web-c"),
        region: "northeurope",
        message: expect.stringContaining("region northeurope failed"),
      }),
    ]);
    expect(byCode("SCALE_SET_NOT_FOUND")).toEqual([
      expect.objectContaining({ scaleSetId: fleet.scaleSetId("web-missing") }),
    ]);
    expect(outcome.findings).toHaveLength(3);
  });

  it("changes nothing when it refuses", async () => {
    fleet.sim.clearRequestLog();
    const rollout = spec({
      image: { galleryImageVersionId: fleet.versionId("1.5.0") },
      waves: [{ name: "first", scaleSets: [fleet.scaleSetId("web-c")] }],
    });
    await drive(executor(fleet), { kind: "preflight" }, { spec: rollout });
    expect(fleet.sim.requestLog().filter((entry) => entry.method !== "GET")).toEqual([]);
  });

  it("refuses `latest` unless configuration allows it for the scale set, then records the exact version", async () => {
    const rollout = spec({
      image: { galleryImageVersionId: fleet.versionId("latest") },
      waves: [{ name: "first", scaleSets: [fleet.scaleSetId("web-b")] }],
    });
    const refused = await drive(executor(fleet), { kind: "preflight" }, { spec: rollout });
    expect(refused.outcome).toMatchObject({
      type: "preflight.refused",
      findings: [{ code: "LATEST_NOT_ALLOWED", scaleSetId: fleet.scaleSetId("web-b") }],
    });
    const allowed = await drive(
      executor(fleet, ["/subscriptions/*/virtualMachineScaleSets/web-b"]),
      { kind: "preflight" },
      { spec: rollout },
    );
    expect(allowed.outcome).toMatchObject({
      type: "preflight.passed",
      resolvedImage: { id: fleet.versionId("1.5.0") },
    });
  });

  it("passes a marketplace image offered in the scale set's region and refuses one that is not", async () => {
    const offered = spec({
      image: { urn: "Canonical:ubuntu-24_04-lts:server:24.04.202610150" },
      waves: [{ name: "w", scaleSets: [fleet.scaleSetId("web-b")] }],
    });
    expect((await drive(executor(fleet), { kind: "preflight" }, { spec: offered })).outcome.type).toBe(
      "preflight.passed",
    );
    const missing = spec({
      image: { urn: "Canonical:ubuntu-24_04-lts:server:24.04.209901010" },
      waves: [{ name: "w", scaleSets: [fleet.scaleSetId("web-b")] }],
    });
    expect((await drive(executor(fleet), { kind: "preflight" }, { spec: missing })).outcome).toMatchObject({
      type: "preflight.refused",
      findings: [{ code: "IMAGE_NOT_IN_REGION", region: "westeurope" }],
    });
  });

  it("passes while the version is still replicating, and checkReplication follows it to completed", async () => {
    // Real time: 1.1.0 replicates for 4 simulated seconds, 4 s of wall time at time scale 1.
    const slowFleet = await startDemoFleet({ timeScale: 1 });
    onTestFinished(() => slowFleet.close());
    const rollout = spec({
      image: { galleryImageVersionId: slowFleet.versionId("1.1.0") },
      waves: [{ name: "first", scaleSets: [slowFleet.scaleSetId("web-a"), slowFleet.scaleSetId("web-c")] }],
    });
    const execute = executor(slowFleet);
    const { outcome } = await drive(execute, { kind: "preflight" }, { spec: rollout });
    expect(outcome).toMatchObject({ type: "preflight.passed", replication: "replicating" });
    const first = await drive(execute, { kind: "checkReplication" }, { spec: rollout });
    expect(first.outcome).toMatchObject({ type: "replication.checked", status: "replicating", findings: [] });
    let status = "replicating";
    for (let attempt = 0; attempt < 60 && status === "replicating"; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      const checked = await drive(execute, { kind: "checkReplication" }, { spec: rollout });
      if (checked.outcome.type === "replication.checked") status = checked.outcome.status;
    }
    expect(status).toBe("completed");
  });

  it("refuses a Flexible scale set and an image past its end-of-life date", async () => {
    const scenario = parseScenario({
      subscriptionId: "0b7e5c1a-2222-4222-8333-944455556666",
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
                    { name: "0.9.0", targetRegions: ["westeurope"], endOfLifeDate: "2020-01-01T00:00:00Z" },
                  ],
                },
              ],
            },
          ],
          scaleSets: [
            {
              name: "flex",
              location: "westeurope",
              capacity: 2,
              orchestrationMode: "Flexible",
              image: { gallery: "demoGallery", image: "web", version: "1.0.0" },
            },
          ],
        },
      ],
    });
    const custom = await startDemoFleet({ scenario });
    onTestFinished(() => custom.close());
    const rollout = spec({
      image: { galleryImageVersionId: custom.versionId("0.9.0") },
      waves: [{ name: "w", scaleSets: [custom.scaleSetId("flex")] }],
    });
    const { outcome } = await drive(executor(custom), { kind: "preflight" }, { spec: rollout });
    if (outcome.type !== "preflight.refused") throw new Error(outcome.type);
    expect(outcome.findings.map((finding) => finding.code).sort()).toEqual([
      "IMAGE_END_OF_LIFE",
      "ORCHESTRATION_NOT_UNIFORM",
    ]);
    expect(
      outcome.findings.find((finding) => finding.code === "ORCHESTRATION_NOT_UNIFORM")?.message,
    ).toContain("scale set flex uses Flexible orchestration");
  });

  it("reports a failed replication by region from checkReplication", async () => {
    const rollout = spec({
      image: { galleryImageVersionId: fleet.versionId("1.5.0") },
      waves: [{ name: "first", scaleSets: [fleet.scaleSetId("web-d")] }],
    });
    const { outcome } = await drive(executor(fleet), { kind: "checkReplication" }, { spec: rollout });
    expect(outcome).toMatchObject({
      type: "replication.checked",
      status: "failed",
      findings: [
        { code: "REPLICATION_FAILED", region: "northeurope", scaleSetId: fleet.scaleSetId("web-d") },
      ],
    });
  });
});
