/**
 * Scale: one rollout over ten simulated scale sets of ten instances with zero bake, through the
 * real executors and SDK clients. Measures the wall time and the ARM calls per upgraded instance,
 * and checks from the timeline that the parallel cap held: the engine allows 3 scale sets at once
 * (the spec asks for 10; the engine's cap bounds it), never more and, with ten waiting, exactly 3
 * at the busiest moment.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAzureAdapters } from "../../../src/azure/adapters.ts";
import { createAzureAccess } from "../../../src/azure/credentials.ts";
import type { TimelineEntry } from "../../../src/domain/rollout-view.ts";
import { rolloutSpecSchema } from "../../../src/domain/spec.ts";
import { createEffectExecutor } from "../../../src/effects/create-effect-executor.ts";
import type { Engine } from "../../../src/engine/service/engine.ts";
import { loadScenarioFile, type RunningSimulator, startSimulator } from "../../../src/simulator/index.ts";
import { defaultConfig } from "../../support/default-config.ts";
import { alice, removeKeys, testConfig, testEngine, testPrefix } from "./support/harness.ts";

const prefix = testPrefix();
const names = Array.from({ length: 10 }, (_, i) => `bench-${String(i).padStart(2, "0")}`);
const instancesPerScaleSet = 10;
/** engine.maxParallelScaleSets for this test: below the spec's 10, so the cap is what binds. */
const engineCap = 3;

/**
 * The most scale sets moving at once, read from the timeline in order: a scale set moves from its
 * first entry of its own (model write, batch) until its `scaleSet.completed`.
 */
function mostMovingAtOnce(timeline: TimelineEntry[]): number {
  const moving = new Set<string>();
  const done = new Set<string>();
  let most = 0;
  for (const entry of timeline) {
    const id = entry.data?.scaleSetId;
    if (typeof id !== "string" || entry.type === "wave.started") continue;
    if (entry.type === "scaleSet.completed") {
      moving.delete(id);
      done.add(id);
    } else if (!done.has(id)) {
      moving.add(id);
      most = Math.max(most, moving.size);
    }
  }
  return most;
}
let dir: string;
let sim: RunningSimulator;
let engine: Engine;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "canaryd-engine-scale-"));
  const scenario = await loadScenarioFile("config/simulator/demo.yaml");
  const group = scenario.resourceGroups[0];
  if (!group) throw new Error("the demo scenario has no resource group");
  group.scaleSets.push(
    ...names.map((name) => ({
      name,
      location: "westeurope",
      sku: "Standard_D2s_v5",
      capacity: instancesPerScaleSet,
      zones: ["1", "2", "3"],
      orchestrationMode: "Uniform" as const,
      upgradePolicy: "Manual" as const,
      image: { gallery: "demoGallery", image: "web", version: "1.0.0" },
      protectedInstances: [],
      tags: {},
    })),
  );
  const connectionFile = join(dir, "simulator.json");
  sim = await startSimulator({
    scenario,
    port: 0,
    timeScale: 60,
    lroRetryAfterSeconds: 0,
    fresh: true,
    connectionFile,
  });
  const config = testConfig(prefix);
  config.engine = {
    ...config.engine,
    maxParallelScaleSets: engineCap,
    pollIntervalSeconds: 1,
    workerConcurrency: 16,
  };
  const access = await createAzureAccess({
    ...defaultConfig.azure,
    credential: "connectionFile",
    connectionFile,
  });
  const executeEffect = createEffectExecutor({
    azure: createAzureAdapters(access),
    config: config.engine,
    allowLatestFor: [],
  });
  engine = testEngine(prefix, executeEffect, { config, timing: { timeScale: 60, retryBackoffMs: 50 } });
  await engine.start();
});
afterAll(async () => {
  await engine?.stop();
  await sim?.close();
  await rm(dir, { recursive: true, force: true });
  await removeKeys(prefix);
});

describe("a rollout over ten scale sets", () => {
  it("completes with zero bake, upgrading batches with one call each, never more than the cap moving", async () => {
    const rg = `/subscriptions/${sim.connection.subscriptionId}/resourceGroups/rg-demo/providers/Microsoft.Compute`;
    const spec = rolloutSpecSchema.parse({
      name: "web-1.1.0-ten",
      image: { galleryImageVersionId: `${rg}/galleries/demoGallery/images/web/versions/1.1.0` },
      waves: [{ name: "all", scaleSets: names.map((n) => `${rg}/virtualMachineScaleSets/${n}`) }],
      strategy: { canary: { instances: 1 }, batchPercent: 50, bakeSeconds: 0, maxParallelScaleSets: 10 },
    });
    sim.clearRequestLog();
    const started = Date.now();

    const view = await engine.service.start(spec, { actor: alice });
    const done = await engine.service.waitForTerminal(view.id, 120_000);
    const wallMs = Date.now() - started;

    expect(done.phase).toBe("completed");
    const timeline = await engine.service.timeline(view.id);
    expect(timeline.filter((e) => e.type === "scaleSet.completed")).toHaveLength(names.length);
    expect(mostMovingAtOnce(timeline)).toBe(engineCap);
    const upgraded = names.length * instancesPerScaleSet;
    for (const name of names) {
      const images = sim.instanceImages(`${rg}/virtualMachineScaleSets/${name}`);
      expect(images.map((i) => i.version)).toEqual(images.map(() => "1.1.0"));
    }
    const arm = sim.requestLog().filter((e) => !e.operation.startsWith("admin."));
    const byOperation = Object.entries(
      arm.reduce<Record<string, number>>((acc, e) => {
        acc[e.operation] = (acc[e.operation] ?? 0) + 1;
        return acc;
      }, {}),
    );
    const manualUpgrades = arm.filter(
      (e) => e.operation === "virtualMachineScaleSets.updateInstances",
    ).length;
    // A canary and two promotion batches per scale set: one manual upgrade call each.
    expect(manualUpgrades).toBe(names.length * 3);
    console.info(
      `10 scale sets x ${instancesPerScaleSet} instances, ${engineCap} at a time, zero bake, simulator and engine at 60x: ` +
        `${wallMs} ms wall, ${arm.length} ARM calls = ${(arm.length / upgraded).toFixed(2)} per upgraded instance; ` +
        `by operation: ${byOperation.map(([op, n]) => `${op} ${n}`).join(", ")}`,
    );
  });
});
