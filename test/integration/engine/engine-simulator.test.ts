/**
 * The engine end to end with the real executors, reaching the simulator's demo fleet through the
 * real Azure SDK clients over HTTPS: the rollouts of the demo scenario, as a release engineer runs them.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { type RolloutSpec, rolloutSpecSchema } from "../../../src/domain/spec.ts";
import { createEffectExecutor } from "../../../src/effects/create-effect-executor.ts";
import type { Engine } from "../../../src/engine/service/engine.ts";
import { type DemoFleet, startDemoFleet } from "../azure/demo-simulator.ts";
import { alice, removeKeys, testConfig, testEngine, testPrefix } from "./support/harness.ts";

const prefix = testPrefix();
let fleet: DemoFleet;
let engine: Engine | undefined;

// A fresh demo fleet per test: every case starts from the scenario's 1.0.0 everywhere.
beforeEach(async () => {
  fleet = await startDemoFleet({ timeScale: 60 });
});
afterEach(async () => {
  await engine?.stop();
  engine = undefined;
  await fleet?.close();
  await removeKeys(prefix);
});
afterAll(() => removeKeys(prefix));

function demoEngine(): Engine {
  const config = testConfig(prefix);
  // Production-like gate and replication waits, run 60 times faster like the fleet.
  config.engine = {
    ...config.engine,
    pollIntervalSeconds: 0.05,
    gateRetrySeconds: 30,
    inconclusiveTimeoutSeconds: 600,
    // A version may still replicate when preflight reads it (4 simulated seconds): wait for it.
    replicationPollSeconds: 30,
    replicationTimeoutSeconds: 3600,
  };
  const executeEffect = createEffectExecutor({
    azure: fleet.azure,
    config: config.engine,
    allowLatestFor: [],
  });
  // Timers run 60 times faster, like the simulated fleet: a 60 s bake takes one second.
  engine = testEngine(prefix, executeEffect, {
    config,
    timing: { ...fastTimingForSimulator, timeScale: 60 },
  });
  return engine;
}

const fastTimingForSimulator = { recoveryIntervalMs: 1_000, retryBackoffMs: 50, waitRecheckMs: 500 };

function demoSpec(version: string, extra: Record<string, unknown> = {}): RolloutSpec {
  return rolloutSpecSchema.parse({
    name: `web-${version}`,
    image: { galleryImageVersionId: fleet.versionId(version) },
    waves: [
      { name: "first", scaleSets: [fleet.scaleSetId("web-a")] },
      { name: "rest", scaleSets: [fleet.scaleSetId("web-b"), fleet.scaleSetId("web-c")] },
    ],
    strategy: { canary: { instances: 1 }, batchPercent: 50, bakeSeconds: 60, maxParallelScaleSets: 2 },
    owner: "release-team",
    changeRecord: "CHG-1234",
    ...extra,
  });
}

const versionsOf = (name: string) => fleet.sim.instanceImages(fleet.scaleSetId(name)).map((i) => i.version);

describe("the demo rollouts through the simulator", () => {
  it("plans 1.1.0 without changing anything: a canary of one, then batches of half", async () => {
    const plan = await demoEngine().service.plan(demoSpec("1.1.0"));
    expect(plan.wouldStart).toBe(true);
    const webA = plan.waves[0]?.scaleSets[0];
    expect(webA?.batches.map((b) => b.kind)).toEqual(["canary", "promotion", "promotion"]);
    expect(webA?.batches[0]?.instanceIds).toHaveLength(1);
    expect(versionsOf("web-a").every((v) => v === "1.0.0")).toBe(true);
  });

  it("rolls 1.1.0 across two waves to completion, every instance of every scale set on it", async () => {
    const { service } = demoEngine();
    await engine?.start();
    const view = await service.start(demoSpec("1.1.0"), { actor: alice });
    const done = await service.waitForTerminal(view.id, 60_000);

    expect(done.phase).toBe("completed");
    for (const name of ["web-a", "web-b", "web-c"]) {
      expect(versionsOf(name)).toEqual(versionsOf(name).map(() => "1.1.0"));
      expect(fleet.sim.instanceImages(fleet.scaleSetId(name)).every((i) => i.latestModelApplied)).toBe(true);
    }
    const timeline = await service.timeline(view.id);
    expect(timeline.find((e) => e.type === "preflight.passed")?.data).toMatchObject({
      changeRecord: "CHG-1234",
    });
  });

  const metricGate = {
    gates: [
      { kind: "instanceHealth" },
      { kind: "bootDiagnostics" },
      { kind: "metric", metric: "Percentage CPU", aggregation: "Average", windowSeconds: 300, max: 80 },
    ],
  };

  it.each([
    ["1.2.0", "a kernel panic in the boot log", {}],
    ["1.3.0", "unhealthy instances", {}],
    ["1.4.0", "CPU above the metric gate's max of 80", metricGate],
  ])(
    "stops %s (%s) at the canary of the first scale set and puts everything back on 1.0.0",
    async (version, _why, extra) => {
      const { service } = demoEngine();
      await engine?.start();

      const view = await service.start(demoSpec(version, extra), { actor: alice });
      const done = await service.waitForTerminal(view.id, 60_000);

      expect(done.phase).toBe("rolledBack");
      for (const name of ["web-a", "web-b", "web-c"])
        expect(versionsOf(name).every((v) => v === "1.0.0")).toBe(true);
      const [webA, webB, webC] = done.scaleSets;
      expect(webA?.touchedInstanceIds).toHaveLength(1);
      expect(webB?.touchedInstanceIds).toEqual([]);
      expect(webC?.touchedInstanceIds).toEqual([]);
      const upgrades = fleet.sim.requestLog({ operation: "virtualMachineScaleSets.updateInstances" });
      // The canary's upgrade and the rollback's: never anything on web-b or web-c.
      expect(upgrades.length).toBeGreaterThanOrEqual(2);
      expect(upgrades.every((u) => u.path.includes("web-a"))).toBe(true);
      const failedGate = (await service.timeline(view.id)).find(
        (e) => e.type === "gates.evaluated" && /fail/i.test(e.message),
      );
      expect(failedGate).toBeDefined();
    },
  );

  it("rejects 1.5.0 on a scale set in the region where replication failed, naming the region, changing nothing", async () => {
    const { service } = demoEngine();
    await engine?.start();
    const view = await service.start(
      demoSpec("1.5.0", { waves: [{ name: "only", scaleSets: [fleet.scaleSetId("web-c")] }] }),
      { actor: alice },
    );
    const done = await service.waitForTerminal(view.id, 60_000);

    expect(done.phase).toBe("rejected");
    expect(JSON.stringify(done.findings)).toMatch(/northeurope|North Europe/i);
    expect(versionsOf("web-c").every((v) => v === "1.0.0")).toBe(true);
    expect(fleet.sim.requestLog({ operation: "virtualMachineScaleSets.update" })).toHaveLength(0);
  });

  it("rejects a rollout onto the Automatic-policy scale set, naming it, and its plan says so first", async () => {
    const { service } = demoEngine();
    await engine?.start();
    const spec = demoSpec("1.1.0", { waves: [{ name: "only", scaleSets: [fleet.scaleSetId("web-auto")] }] });
    const plan = await service.plan(spec);
    expect(plan.wouldStart).toBe(false);
    expect(JSON.stringify(plan.findings)).toContain("web-auto");

    const view = await service.start(spec, { actor: alice });
    const done = await service.waitForTerminal(view.id, 60_000);

    expect(done.phase).toBe("rejected");
    expect(
      done.findings.some((f) => f.scaleSetId?.endsWith("web-auto") || f.message.includes("web-auto")),
    ).toBe(true);
    // The scale set is free again: a refused rollout holds nothing.
    await expect(service.rollbackScaleSet(fleet.scaleSetId("web-auto"), alice)).rejects.toMatchObject({
      code: "NOTHING_TO_ROLL_BACK",
    });
  });
});
