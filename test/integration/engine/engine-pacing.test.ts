/**
 * Pacing through the engine, the real executors and the simulator: `strategy.pauseBetweenBatchesSeconds`
 * holds each promotion batch back from the previous one's passing gates by at least that long
 * (on the engine's clock, which the timeline's `at` is written with), and a rollout with no pause
 * moves on at once. Ignoring the setting, or starting the timer with another delay, fails it.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { TimelineEntry } from "../../../src/domain/rollout-view.ts";
import { rolloutSpecSchema } from "../../../src/domain/spec.ts";
import { createEffectExecutor } from "../../../src/effects/create-effect-executor.ts";
import type { Engine } from "../../../src/engine/service/engine.ts";
import { type DemoFleet, startDemoFleet } from "../azure/demo-simulator.ts";
import { alice, removeKeys, testConfig, testEngine, testPrefix } from "./support/harness.ts";

/** Engine and simulator at 120x: a 240 s pause is 2 s of wall time. */
const timeScale = 120;
const prefix = testPrefix();
let fleet: DemoFleet | undefined;
let engine: Engine | undefined;

afterEach(async () => {
  await engine?.stop();
  engine = undefined;
  await fleet?.close();
  fleet = undefined;
  await removeKeys(prefix);
});

/** Rolls 1.1.0 onto web-b (4 instances: a canary, then batches of one) with the given pause. */
async function rollWithPause(pauseBetweenBatchesSeconds: number): Promise<TimelineEntry[]> {
  fleet = await startDemoFleet({ timeScale });
  const config = testConfig(prefix);
  config.engine = {
    ...config.engine,
    pollIntervalSeconds: 1,
    replicationPollSeconds: 1,
    replicationTimeoutSeconds: 600,
  };
  const executeEffect = createEffectExecutor({
    azure: fleet.azure,
    config: config.engine,
    allowLatestFor: [],
  });
  engine = testEngine(prefix, executeEffect, { config, timing: { timeScale, retryBackoffMs: 50 } });
  await engine.start();
  const spec = rolloutSpecSchema.parse({
    name: "web-1.1.0-paced",
    image: { galleryImageVersionId: fleet.versionId("1.1.0") },
    waves: [{ name: "only", scaleSets: [fleet.scaleSetId("web-b")] }],
    strategy: { canary: { instances: 1 }, batchPercent: 25, bakeSeconds: 0, pauseBetweenBatchesSeconds },
    gates: [{ kind: "instanceHealth" }],
  });
  const started = await engine.service.start(spec, { actor: alice });
  const done = await engine.service.waitForTerminal(started.id, 60_000);
  expect(done.phase, done.reason).toBe("completed");
  return engine.service.timeline(started.id);
}

/** Seconds (engine clock) from each promotion batch's passing gates to the next batch's upgrade. */
function gapsBetweenPromotionBatches(timeline: TimelineEntry[]): number[] {
  const upgrades = timeline.filter((e) => e.type === "batch.upgrading");
  const gaps: number[] = [];
  for (const [i, upgrade] of upgrades.entries()) {
    if (i < 2) continue; // the canary is followed by its bake, not by the pause
    const previousBatch = upgrades[i - 1]?.data?.batch;
    const passed = timeline.find(
      (e) => e.type === "gates.evaluated" && e.data?.batch === previousBatch && e.data?.verdict === "passed",
    );
    if (!passed) throw new Error(`no passing gates for batch ${String(previousBatch)}`);
    gaps.push((Date.parse(upgrade.at) - Date.parse(passed.at)) / 1000);
  }
  return gaps;
}

describe("pauseBetweenBatchesSeconds through the engine", () => {
  it("waits at least the pause between promotion batches, and not without it", async () => {
    const paused = gapsBetweenPromotionBatches(await rollWithPause(240));
    expect(paused.length).toBeGreaterThanOrEqual(2);
    for (const gap of paused) expect(gap).toBeGreaterThanOrEqual(240);
    await engine?.stop();
    engine = undefined;
    await fleet?.close();
    fleet = undefined;

    // The same rollout without a pause: the next batch starts well within the pause's length,
    // so the gaps above are the pause's doing and not the simulator's pace.
    const unpaused = gapsBetweenPromotionBatches(await rollWithPause(0));
    expect(unpaused.length).toBe(paused.length);
    for (const gap of unpaused) expect(gap).toBeLessThan(240);
    console.info(
      `gaps between promotion batches (engine seconds at ${timeScale}x): with a 240 s pause ${paused
        .map((g) => g.toFixed(0))
        .join(", ")}; without ${unpaused.map((g) => g.toFixed(0)).join(", ")}`,
    );
  });
});
