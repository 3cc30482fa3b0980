/**
 * `engine.queueShards` on one Redis node, and changing it on an install with a rollout in flight:
 * an engine with the single queue (the layout of every install before shards) is stopped
 * mid-rollout and a new one starts on the same Redis and prefix with three shards. Its recovery
 * pass re-adds every outbox entry to the rollout's new shard, so the rollout finishes there,
 * without a manual upgrade issued twice (queue/queue-shards.ts states the contract).
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { effectQueueName } from "../../../src/engine/queue/effect-queue.ts";
import { shardOf, shardPrefixes } from "../../../src/engine/queue/queue-shards.ts";
import { demoSpec, startStack } from "../../support/reliability-stack.ts";
import { type DemoFleet, startDemoFleet } from "../azure/demo-simulator.ts";
import { alice, redisUrl, removeKeys, testPrefix, waitForPhase } from "./support/harness.ts";

const prefix = testPrefix();
let fleet: DemoFleet;
let redis: Redis;

beforeAll(async () => {
  fleet = await startDemoFleet({ timeScale: 60 });
  redis = new Redis(redisUrl);
});
afterAll(async () => {
  await fleet?.close();
  redis?.disconnect();
  await removeKeys(prefix);
});

/** Rollout ids of the jobs a queue's event stream saw. */
async function rolloutsIn(queuePrefix: string): Promise<Set<string>> {
  const entries = await redis.xrange(`${queuePrefix}:${effectQueueName}:events`, "-", "+");
  const ids = new Set<string>();
  for (const [, fields] of entries) {
    const at = fields.indexOf("jobId");
    const jobId = at >= 0 ? fields[at + 1] : undefined;
    if (jobId?.includes(".")) ids.add(jobId.split(".")[0] ?? "");
  }
  return ids;
}

describe("queue shards on one Redis node", () => {
  it("a rollout begun on the single queue finishes after a restart with three shards", async () => {
    const before = await startStack({ redisUrl, prefix, fleet, engine: { queueShards: 1 } });
    let id: string;
    try {
      const view = await before.engine.service.start(demoSpec(fleet, "1.1.0", [["web-a"], ["web-b"]]), {
        actor: alice,
      });
      id = view.id;
      // Stopped once the canary was upgraded and the bake timer (a delayed job) is waiting.
      await waitForPhase(before.engine.service, id, ["canary"], 20_000);
      const deadline = Date.now() + 20_000;
      while (fleet.sim.requestLog({ operation: "virtualMachineScaleSets.updateInstances" }).length < 1) {
        if (Date.now() > deadline) throw new Error("no canary upgrade within 20 s");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    } finally {
      await before.close();
    }
    expect(await rolloutsIn(prefix)).toContain(id);

    const after = await startStack({ redisUrl, prefix, fleet, engine: { queueShards: 3 } });
    try {
      const done = await after.engine.service.waitForTerminal(id, 40_000);
      expect(done.phase, done.reason).toBe("completed");
      const shards = shardPrefixes(prefix, 3);
      const own = shardOf(id, 3);
      for (const [i, shard] of shards.entries()) {
        expect(shard.startsWith(prefix.slice(0, -1))).toBe(true);
        if (i === own) expect(await rolloutsIn(shard)).toContain(id);
        else expect(await rolloutsIn(shard)).not.toContain(id);
      }
      const detail = await after.engine.service.get(id);
      const started = (detail?.scaleSets ?? []).reduce(
        (n, s) => n + s.batches.filter((b) => b.status !== "pending").length,
        0,
      );
      expect(started).toBeGreaterThan(2);
      expect(fleet.sim.requestLog({ operation: "virtualMachineScaleSets.updateInstances" })).toHaveLength(
        started,
      );
    } finally {
      await after.close();
    }
  });
});
