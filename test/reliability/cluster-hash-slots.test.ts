/**
 * canaryd on a Redis Cluster of three masters (started here with `redis-server --cluster-enabled
 * yes` and `redis-cli --cluster create`, loopback only). What this shows:
 * - every key of the engine and of its BullMQ queue carries the prefix's hash tag, so all of them
 *   share ONE slot: one master holds everything and the other two hold nothing (no sharding, with
 *   `engine.queueShards` at its default 1; cluster-queue-shards.test.ts shows the queue split);
 * - an engine given one node's URL (no redis.clusterNodes) uses a single-node client: pointed at
 *   the master that owns the slot it works, pointed at any other master every command is answered
 *   MOVED and the engine cannot serve (redis.clusterNodes selects the Cluster client instead:
 *   cluster-engine.test.ts);
 * - BullMQ itself runs on the cluster through an ioredis Cluster client with the hash-tagged
 *   prefix, which is what the engine's cluster mode builds on.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Queue, Worker } from "bullmq";
import { Cluster } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { effectQueueName } from "../../src/engine/queue/effect-queue.ts";
import { engineKeys } from "../../src/engine/store/keys.ts";
import { type DemoFleet, startDemoFleet } from "../integration/azure/demo-simulator.ts";
import { testPrefix } from "../integration/engine/support/harness.ts";
import { type OwnCluster, startOwnCluster } from "../support/reliability-redis.ts";
import { ResultsRecorder } from "../support/reliability-rows.ts";
import { demoSpec, isTerminal, pollRollout, startStack, versionsOf } from "../support/reliability-stack.ts";

const run = promisify(execFile);
const results = new ResultsRecorder("cluster");
let cluster: OwnCluster;
let fleet: DemoFleet;

beforeAll(async () => {
  cluster = await startOwnCluster(3);
  fleet = await startDemoFleet({ timeScale: 60 });
});
afterAll(async () => {
  await fleet?.close();
  await cluster?.destroy();
  results.write();
});

async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run("redis-cli", ["-p", String(port), ...args], { timeout: 5_000 });
  return stdout.trim();
}

const keySlot = async (key: string) => Number(await cli(cluster.ports[0] ?? 0, "cluster", "keyslot", key));

/** The port of the master serving `slot`. */
async function ownerOf(slot: number): Promise<number> {
  for (const port of cluster.ports) {
    const nodes = await cli(port, "cluster", "nodes");
    const me = nodes.split("\n").find((line) => line.includes("myself"));
    const ranges = me?.split(" ").slice(8) ?? [];
    const owns = ranges.some((range) => {
      const [from, to] = range.split("-").map(Number);
      return from !== undefined && slot >= from && slot <= (to ?? from);
    });
    if (owns) return port;
  }
  throw new Error(`no master owns slot ${slot}`);
}

/** Every key name the engine and BullMQ use for one rollout, as the code builds them. */
function keyNames(prefix: string): string[] {
  const keys = engineKeys(prefix);
  const id = "ro-example";
  const scaleSet = fleet.scaleSetId("web-a");
  const engine = [
    keys.rollout(id),
    keys.outbox(id),
    keys.timeline(id),
    keys.lock(id),
    keys.timelineChannel(id),
    keys.allRollouts,
    keys.byPhase("canary"),
    keys.active,
    keys.holders,
    keys.scaleSetHistory(scaleSet),
    keys.idempotency("alice", "key-1"),
    keys.creationSequence,
  ];
  const bull = [
    "wait",
    "active",
    "delayed",
    "completed",
    "failed",
    "meta",
    "events",
    "id",
    "stalled-check",
    "1",
  ].map((suffix) => `${prefix}:${effectQueueName}:${suffix}`);
  return [...engine, ...bull];
}

describe("canaryd on a Redis Cluster of three masters", () => {
  it("puts every engine and queue key in one hash slot: one master holds all of canaryd", async () => {
    await results.trial("key placement on a 3-master cluster (default prefix {canaryd})", 1, async () => {
      const names = keyNames("{canaryd}");
      const slots = new Set(await Promise.all(names.map(keySlot)));
      expect(slots.size).toBe(1);
      const [slot] = [...slots];
      const owner = await ownerOf(slot ?? 0);
      return {
        outcome: `all ${names.length} key kinds (rollout, outbox, timeline, lock, indexes, holders, idempotency, BullMQ wait/active/delayed/events/jobs) hash to slot ${slot}, served by one master (port ${owner}); the other 2 masters hold none: no sharding`,
      };
    });
  });

  it("runs a rollout when pointed at the master that owns the slot (a single-node client, no failover)", async () => {
    await results.trial("engine with redisUrl = the owning master", 1, async () => {
      const prefix = testPrefix();
      const owner = await ownerOf(await keySlot(`${prefix}:rollouts`));
      const stack = await startStack({ redisUrl: `redis://127.0.0.1:${owner}`, prefix, fleet });
      try {
        const started = await stack.engine.service.start(demoSpec(fleet, "1.1.0", [["web-c"]]), {
          actor: { id: "release-bot", role: "deployer" },
        });
        const done = await pollRollout(stack.engine, started.id, isTerminal, 60_000);
        expect(done.phase, done.reason).toBe("completed");
        expect(versionsOf(fleet, ["web-c"])["web-c"]?.every((v) => v === "1.1.0")).toBe(true);
        // Everything of this prefix landed on the owner; the other masters hold none of it.
        for (const port of cluster.ports) {
          const keys = (await cli(port, "--scan", "--pattern", `${prefix}*`)).split("\n").filter(Boolean);
          if (port === owner) expect(keys.length).toBeGreaterThan(0);
          else expect(keys, `keys on master ${port}`).toEqual([]);
        }
        return { outcome: "completed; every key on the owning master, 0 keys on the other two" };
      } finally {
        await stack.close();
      }
    });
  });

  it("cannot serve when pointed at a master that does not own the slot: MOVED is not followed", async () => {
    await results.trial("engine with redisUrl = a master that does not own the slot", 1, async () => {
      const prefix = testPrefix();
      const owner = await ownerOf(await keySlot(`${prefix}:rollouts`));
      const other = cluster.ports.find((p) => p !== owner) ?? 0;
      const error = await startStack({ redisUrl: `redis://127.0.0.1:${other}`, prefix, fleet }).then(
        async (stack) => {
          await stack.close();
          return undefined;
        },
        (e: unknown) => e as Error,
      );
      // The engine does not start at all: its first command is redirected and not followed.
      expect(error?.message).toMatch(/^MOVED \d+ 127\.0\.0\.1:\d+$/);
      return {
        outcome: `the engine refuses to start with Redis' own '${error?.message}' (a daemon would exit; the message does not say the URL names a cluster node that does not own canaryd's slot)`,
      };
    });
  });

  it("BullMQ runs on the cluster through an ioredis Cluster client with the hash-tagged prefix", async () => {
    await results.trial("BullMQ queue + worker over an ioredis Cluster client, prefix {tag}", 1, async () => {
      const prefix = testPrefix();
      const nodes = cluster.ports.map((port) => ({ host: "127.0.0.1", port }));
      const connection = () => new Cluster(nodes, { redisOptions: { maxRetriesPerRequest: null } });
      const queue = new Queue("effects", { connection: connection(), prefix });
      const worker = new Worker("effects", async (job) => job.data.n * 2, {
        connection: connection(),
        prefix,
      });
      try {
        await Promise.all([queue.waitUntilReady(), worker.waitUntilReady()]);
        await queue.addBulk(
          [1, 2, 3].map((n) => ({ name: "double", data: { n }, opts: { jobId: `job-${n}` } })),
        );
        // Read the jobs back rather than listen for events: no race with the event stream's start.
        const deadline = Date.now() + 20_000;
        let answers: unknown[] = [];
        while (Date.now() < deadline) {
          const jobs = await Promise.all([1, 2, 3].map((n) => queue.getJob(`job-${n}`)));
          answers = jobs.map((job) => job?.returnvalue);
          if (answers.every((a) => a !== undefined && a !== null)) break;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        expect(answers).toEqual([2, 4, 6]);
        const keysPerMaster = await Promise.all(
          cluster.ports.map(
            async (port) =>
              (await cli(port, "--scan", "--pattern", `${prefix}*`)).split("\n").filter(Boolean).length,
          ),
        );
        expect(keysPerMaster.filter((count) => count > 0)).toHaveLength(1);
        return {
          outcome: `3 jobs processed; queue keys per master: ${keysPerMaster.join(" / ")} (one master holds the whole queue)`,
        };
      } finally {
        await worker.close();
        await queue.close();
      }
    });
  });
});
