/**
 * The heartbeat-gap example of docs/gates.md against the simulator through the SDK: a version
 * whose instances stop heartbeating (behaviour.logs.heartbeat false) fails
 * `Heartbeat | where Computer in ({canaryComputers}) | summarize beats = count()` with `min`, and
 * a Log Analytics token meant for another audience is refused as Azure refuses it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAzureAdapters } from "../../../src/azure/adapters.ts";
import { type GateSpec, gateSchema } from "../../../src/domain/spec.ts";
import { createEffectExecutor } from "../../../src/effects/create-effect-executor.ts";
import { loadScenarioFile } from "../../../src/simulator/index.ts";
import { type DemoFleet, startDemoFleet } from "../azure/demo-simulator.ts";
import { drive, engineConfig, spec } from "../effects/drive-effect.ts";

let fleet: DemoFleet;

beforeAll(async () => {
  // The demo fleet, with 1.1.0 silent in Heartbeat (a broken monitoring agent).
  const scenario = await loadScenarioFile("config/simulator/demo.yaml");
  for (const group of scenario.resourceGroups)
    for (const gallery of group.galleries)
      for (const image of gallery.images)
        for (const version of image.versions)
          if (version.name === "1.1.0")
            version.behaviour.logs = { ...version.behaviour.logs, heartbeat: false };
  fleet = await startDemoFleet({ timeScale: 60, scenario });
});
afterAll(async () => {
  await fleet?.close();
});

const heartbeat = (): GateSpec =>
  gateSchema.parse({
    kind: "logQuery",
    name: "heartbeat",
    resourceId: fleet.scaleSetId("web-b"),
    query: "Heartbeat | where Computer in ({canaryComputers}) | summarize beats = count()",
    column: "beats",
    min: 1,
    ingestionDelaySeconds: 0,
  });

async function evaluateOn(instanceId: string, version: string) {
  const execute = createEffectExecutor({ azure: fleet.azure, config: engineConfig, allowLatestFor: [] });
  const scaleSetId = fleet.scaleSetId("web-b");
  const target = { id: fleet.versionId(version) };
  const rollout = spec({
    image: { galleryImageVersionId: target.id },
    waves: [{ name: "w", scaleSets: [scaleSetId] }],
  });
  await drive(
    execute,
    { kind: "setModelImage", scaleSetId, target, previous: { id: fleet.versionId("1.0.0") } },
    { spec: rollout },
  );
  await drive(
    execute,
    { kind: "upgradeInstances", scaleSetId, instanceIds: [instanceId], image: target, purpose: "rollout" },
    { spec: rollout },
  );
  const since = new Date().toISOString();
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const { outcome } = await drive(
    execute,
    {
      kind: "evaluateGates",
      scaleSetId,
      instanceIds: [instanceId],
      gates: [heartbeat()],
      maxUnhealthyPercent: 0,
      since,
      attempt: 0,
    },
    { spec: rollout, now: () => new Date(Date.parse(since) + 120_000) },
  );
  if (outcome.type !== "gates.evaluated") throw new Error(outcome.type);
  return outcome.results[0];
}

describe("heartbeat gap", () => {
  // Mutations: the simulator writes Heartbeat rows whatever `heartbeat` says, or summarize
  // without `by` answers no row over no input (the gate would then be inconclusive) → fails.
  it("fails a canary whose computer stopped heartbeating: beats = 0 below min 1", async () => {
    const result = await evaluateOn("1", "1.1.0");
    expect(result?.verdict).toBe("failed");
    expect(result?.summary).toContain("beats = 0, below min 1");
  });

  // Mutation: the heartbeat rows are not generated per minute of a running version → fails.
  it("passes a canary that keeps heartbeating", async () => {
    const result = await evaluateOn("2", "1.3.0");
    expect(result?.verdict).toBe("passed");
    expect((result?.evidence.values as number[] | undefined)?.[0]).toBeGreaterThan(0);
  });

  // Mutation: the simulator does not check the Log Analytics audience of a bound token → fails.
  it("refuses a token meant for another Log Analytics audience (401)", async () => {
    const other = createAzureAdapters({
      ...fleet.access,
      logAnalyticsAudience: "https://api.loganalytics.us",
    });
    const now = new Date();
    const error = await other.logs
      .query({
        target: { workspaceId: fleet.sim.connection.logAnalyticsWorkspaceId },
        query: "Heartbeat",
        start: new Date(now.getTime() - 60_000),
        end: now,
      })
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ statusCode: 401 });
  });
});
