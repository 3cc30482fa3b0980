/**
 * Azure misbehaving under a rollout, played by the simulator's faults and reached through the real
 * SDK clients: throttling storms (Retry-After honoured, visible in the request log's timing), 5xx
 * bursts, long-running operations that end Failed, an instance that never comes back, an
 * allocation failure. Each ends in a defined phase with a reason a person can act on, and a
 * platform failure is never blamed on the image.
 */
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { RolloutView, TimelineEntry } from "../../src/domain/rollout-view.ts";
import { type RolloutSpec, rolloutSpecSchema } from "../../src/domain/spec.ts";
import { createEffectExecutor } from "../../src/effects/create-effect-executor.ts";
import type { Engine } from "../../src/engine/service/engine.ts";
import type { FaultSpec, RequestLogEntry } from "../../src/simulator/index.ts";
import { type DemoFleet, startDemoFleet } from "../integration/azure/demo-simulator.ts";
import {
  alice,
  removeKeys,
  testConfig,
  testEngine,
  testPrefix,
} from "../integration/engine/support/harness.ts";
import { ResultsRecorder } from "../support/reliability-rows.ts";

const results = new ResultsRecorder("azure-faults");
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
afterAll(() => results.write());

/**
 * A fresh demo fleet (60x time) and an engine on it. Retry-After is wall-clock time while the
 * engine's clock runs 60 times faster: a 2 s throttle is 2 simulated minutes, so upgrades get 30
 * simulated minutes (30 s) unless a test wants the timeout itself.
 */
async function setUp(
  upgradeTimeoutSeconds: number,
  effectAttempts: number,
): Promise<{ fleet: DemoFleet; engine: Engine }> {
  fleet = await startDemoFleet({ timeScale: 60 });
  const config = testConfig(prefix);
  config.engine = {
    ...config.engine,
    pollIntervalSeconds: 0.05,
    gateRetrySeconds: 5,
    inconclusiveTimeoutSeconds: 60,
    upgradeTimeoutSeconds,
    // The demo's new versions finish replicating 4 simulated seconds after the fleet starts.
    replicationPollSeconds: 1,
    replicationTimeoutSeconds: 600,
    effectAttempts,
  };
  const executeEffect = createEffectExecutor({
    azure: fleet.azure,
    config: config.engine,
    allowLatestFor: [],
  });
  engine = testEngine(prefix, executeEffect, {
    config,
    timing: { recoveryIntervalMs: 1_000, retryBackoffMs: 200, waitRecheckMs: 500, timeScale: 60 },
  });
  await engine.start();
  return { fleet, engine };
}

/** 1.1.0 (a good image) onto web-b alone: a canary of one, then batches of half. */
function spec(f: DemoFleet): RolloutSpec {
  return rolloutSpecSchema.parse({
    name: "web-1.1.0",
    image: { galleryImageVersionId: f.versionId("1.1.0") },
    waves: [{ name: "only", scaleSets: [f.scaleSetId("web-b")] }],
    strategy: { canary: { instances: 1 }, batchPercent: 50, bakeSeconds: 0, maxParallelScaleSets: 1 },
    gates: [{ kind: "instanceHealth" }],
  });
}

async function runWith(faults: FaultSpec[], upgradeTimeoutSeconds = 1_800, effectAttempts = 3) {
  const { fleet: f, engine: e } = await setUp(upgradeTimeoutSeconds, effectAttempts);
  for (const fault of faults) f.sim.addFault(fault);
  const started = await e.service.start(spec(f), { actor: alice });
  const done = await e.service.waitForTerminal(started.id, 60_000);
  const timeline = await e.service.timeline(started.id);
  return {
    fleet: f,
    done,
    timeline,
    versions: f.sim.instanceImages(f.scaleSetId("web-b")).map((i) => i.version),
  };
}

/** Seconds between each throttled request and the next request of the same operation and path. */
function gapsAfterThrottle(log: RequestLogEntry[]): number[] {
  const gaps: number[] = [];
  log.forEach((entry, i) => {
    if (entry.status !== 429) return;
    const next = log.slice(i + 1).find((later) => later.path === entry.path && later.method === entry.method);
    if (next) gaps.push((Date.parse(next.time) - Date.parse(entry.time) - entry.durationMs) / 1000);
  });
  return gaps;
}

function describeEnd(done: RolloutView): string {
  return done.reason ? `${done.phase}: ${done.reason}` : done.phase;
}

/**
 * The engine names a platform failure as `<scale set>: <effect> failed on the platform: <Azure's
 * words>`, and blames the image only through a gate verdict (`gate failed`, a `gates.evaluated`
 * entry with verdict failed). A platform fault must produce the first and none of the second.
 */
function expectBlamedOnPlatform(reason: string, effect: string, timeline: TimelineEntry[]): void {
  expect(reason).toMatch(new RegExp(`web-b: ${effect} failed on the platform: `));
  expect(reason).not.toMatch(/gate failed/);
  const failedGates = timeline.filter((e) => e.type === "gates.evaluated" && e.data?.verdict === "failed");
  expect(failedGates).toEqual([]);
  // The release record says which effect Azure failed.
  expect(timeline.filter((e) => e.type === "effect.failed").map((e) => e.data?.effect)).toContain(effect);
}

describe("Azure faults during a rollout", () => {
  it("rides out a 429 storm on the upgrade and the VM list, waiting as long as Retry-After says", async () => {
    await results.trial("429 storm (Retry-After 2 s) on updateInstances x3 and VM list x4", 1, async () => {
      const {
        fleet: f,
        done,
        versions,
      } = await runWith([
        {
          kind: "throttle",
          operation: "virtualMachineScaleSets.updateInstances",
          count: 3,
          retryAfterSeconds: 2,
        },
        { kind: "throttle", operation: "virtualMachineScaleSetVMs.list", count: 4, retryAfterSeconds: 1 },
      ]);
      expect(done.phase, describeEnd(done)).toBe("completed");
      expect(versions.every((v) => v === "1.1.0")).toBe(true);
      const upgrades = f.sim.requestLog({ operation: "virtualMachineScaleSets.updateInstances" });
      expect(upgrades.filter((u) => u.status === 429)).toHaveLength(3);
      const upgradeGaps = gapsAfterThrottle(upgrades);
      expect(upgradeGaps).toHaveLength(3);
      // Retry-After is whole seconds; allow for timer and clock granularity only.
      for (const gap of upgradeGaps) expect(gap).toBeGreaterThanOrEqual(1.9);
      // Several effects list the same scale set at once, so list retries cannot be paired by path;
      // what counts is that every throttled read was answered in the end.
      const lists = f.sim.requestLog({ operation: "virtualMachineScaleSetVMs.list" });
      expect(lists.filter((l) => l.status === 429)).toHaveLength(4);
      expect(lists.at(-1)?.status).toBe(200);
      return {
        outcome: `completed, every instance on 1.1.0; retries waited ${upgradeGaps.map((g) => g.toFixed(1)).join(", ")} s after Retry-After: 2`,
      };
    });
  });

  it("rides out a burst of 503s on every ARM call", async () => {
    await results.trial("5xx burst: 503 on the next 6 ARM/metrics requests", 1, async () => {
      const {
        fleet: f,
        done,
        versions,
      } = await runWith([{ kind: "serverError", operation: "*", count: 6, status: 503 }]);
      expect(done.phase, describeEnd(done)).toBe("completed");
      expect(versions.every((v) => v === "1.1.0")).toBe(true);
      expect(f.sim.requestLog().filter((r) => r.status === 503)).toHaveLength(6);
      return { outcome: "completed, every instance on 1.1.0 (SDK and effect retries absorbed the burst)" };
    });
  });

  it("rolls back, naming Azure's 503, when the upgrade call keeps failing past every retry", async () => {
    await results.trial("5xx outage: 503 on every manual upgrade call for 30 s", 1, async () => {
      // One engine attempt: the SDK's own retries (about 7 s of backoff) are the ones under test.
      const {
        fleet: f,
        done,
        timeline,
        versions,
      } = await runWith(
        [
          {
            kind: "serverError",
            operation: "virtualMachineScaleSets.updateInstances",
            durationSeconds: 30,
            status: 503,
          },
        ],
        1_800,
        1,
      );
      dumpOnFailure(done, timeline);
      expect(done.phase, describeEnd(done)).toBe("rolledBack");
      expectBlamedOnPlatform(done.reason ?? "", "upgradeInstances", timeline);
      expect(done.reason ?? "").toMatch(/InternalServerError|ServiceUnavailable|503/);
      expect(versions.every((v) => v === "1.0.0")).toBe(true);
      const calls = f.sim.requestLog({ operation: "virtualMachineScaleSets.updateInstances" });
      expect(calls.length).toBeGreaterThan(1);
      return { outcome: `${describeEnd(done)} (after ${calls.length} refused upgrade calls)` };
    });
  });

  it("does not complete silently when every model write's long-running operation ends Failed", async () => {
    await results.trial(
      "model write LRO ends Failed (InternalExecutionError) on every attempt",
      1,
      async () => {
        const { done, versions, timeline } = await runWith([
          { kind: "failLro", operation: "virtualMachineScaleSets.update", count: 10 },
        ]);
        dumpOnFailure(done, timeline);
        // Azure said the write failed: the release record must say so, and the rollout must not
        // promote on a model write Azure reported as Failed.
        expect(
          ["rolledBack", "failed"],
          `Azure reported every model write Failed, yet the rollout ended ${describeEnd(done)}`,
        ).toContain(done.phase);
        // Azure's verdict on the write, in the engine's words, and which write it was.
        expect(done.reason ?? "").toMatch(/model write of demoGallery\/web 1\.1\.0 .* as Failed/);
        expectBlamedOnPlatform(done.reason ?? "", "setModelImage", timeline);
        expect(versions.every((v) => v === "1.0.0")).toBe(true);
        return { outcome: describeEnd(done) };
      },
    );
  });

  it("completes when a manual upgrade's operation ends Failed but every instance reads back healthy on the image", async () => {
    await results.trial("manual upgrade LRO ends Failed, instances healthy on the image", 1, async () => {
      const { done, versions, timeline } = await runWith([
        { kind: "failLro", operation: "virtualMachineScaleSets.updateInstances", count: 10 },
      ]);
      dumpOnFailure(done, timeline);
      // The instances are the truth the engine reads (design: observe the resource, not the poller).
      expect(done.phase, describeEnd(done)).toBe("completed");
      expect(versions.every((v) => v === "1.1.0")).toBe(true);
      return {
        outcome: "completed: the engine judges instances by what they report, not by the operation's status",
      };
    });
  });

  it("rolls back, naming the stuck instance and what to check, when an instance never comes back", async () => {
    await results.trial("instance never returns from its upgrade", 1, async () => {
      const faults: FaultSpec[] = ["0", "1", "2", "3"].map((instanceId) => ({
        kind: "instanceNeverReturns",
        scaleSet: "web-b",
        instanceId,
      }));
      // Upgrades time out after 2 simulated minutes (2 s) here.
      const { fleet: f, done, timeline } = await runWith(faults, 120);
      dumpOnFailure(done, timeline);
      // Azure refuses every write to the scale set while the stuck upgrade runs, so the rollback
      // cannot finish either: `failed` (a human must look), naming the instance and what to check.
      expect(done.phase, describeEnd(done)).toBe("failed");
      expect(done.reason ?? "").toMatch(/instances 0 of .*web-b did not come back/);
      expect(done.reason ?? "").toMatch(/platform failure, not the image/);
      expect(done.reason ?? "").toMatch(/activity log and instance view/);
      expect(timeline.find((e) => e.type === "instances.upgradeFailed")?.data).toMatchObject({
        platformFailure: true,
      });
      const stuck = f.sim
        .instanceImages(f.scaleSetId("web-b"))
        .filter((i) => i.provisioningState === "Updating");
      expect(stuck.map((i) => i.instanceId)).toEqual(["0"]);
      return {
        outcome: `failed (human must look): canary instance 0 never returned; Azure refused the revert while its upgrade ran. Reason: ${done.reason}`,
        lost: "nothing recorded was lost; web-b's model stays on the new image until the stuck instance is resolved",
      };
    });
  });

  it("rolls back on an allocation failure and says it is Azure's, not the image's", async () => {
    await results.trial("allocation failure (AllocationFailed) on the canary", 1, async () => {
      const faults: FaultSpec[] = ["0", "1", "2", "3"].map((instanceId) => ({
        kind: "instanceFailsProvisioning",
        scaleSet: "web-b",
        instanceId,
        errorCode: "AllocationFailed",
      }));
      const { done, timeline, versions } = await runWith(faults);
      dumpOnFailure(done, timeline);
      expect(done.phase, describeEnd(done)).toBe("rolledBack");
      expect(done.reason ?? "").toMatch(/AllocationFailed/);
      expect(done.reason ?? "").toMatch(/platform failure, not the image/);
      const failure = timeline.find((e) => e.type === "instances.upgradeFailed");
      expect(failure?.data).toMatchObject({ platformFailure: true });
      expect(versions.every((v) => v === "1.0.0")).toBe(true);
      return { outcome: describeEnd(done) };
    });
  });
});

function dumpOnFailure(done: RolloutView, timeline: TimelineEntry[]): void {
  if (process.env.RELIABILITY_DEBUG)
    console.log(done.phase, done.reason, timeline.map((e) => `${e.type}: ${e.message}`).join("\n"));
}
