/**
 * `engine.queueShards` on a Redis Cluster of three masters (started here, loopback only): the
 * engine runs nine concurrent rollouts with two queue shards (masters - 1: the layout that leaves
 * the state's master to the state), and what Redis holds afterwards shows where the work went:
 * - every rollout completes;
 * - each shard's keys sit on a master of its own, not the one of the rollout state (CLUSTER
 *   KEYSLOT of its tag, and a scan of each master without redirection), so jobs of different
 *   rollouts landed on different masters;
 * - every job of a rollout (effects and timers alike) went through one shard, the one
 *   `shardOf(rolloutId)` names: read from each shard's BullMQ event stream (`…:effects:events`,
 *   one entry per job added, delayed, moved, completed);
 * - the rollout state itself stays on the one master of the prefix's slot (docs/performance.md).
 * Then three `canaryd serve` processes with CANARYD_QUEUE_SHARDS=3 share concurrent rollouts; one
 * is killed with -9 mid-way and the other two finish them all (its jobs, in every shard, taken
 * over once their locks expire), no manual upgrade reissued.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Cluster } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RolloutPhase } from "../../src/domain/rollout-view.ts";
import { rolloutSpecSchema } from "../../src/domain/spec.ts";
import { effectQueueName } from "../../src/engine/queue/effect-queue.ts";
import { keySlot, shardOf, shardPrefixes } from "../../src/engine/queue/queue-shards.ts";
import { parseScenario } from "../../src/simulator/index.ts";
import { type DemoFleet, startDemoFleet } from "../integration/azure/demo-simulator.ts";
import { demoSpec as labSpec, reissuedUpgrades, witnessFleet } from "../support/crash-expectations.ts";
import { type RolloutDetail, startCrashLab } from "../support/crash-lab.ts";
import { type OwnCluster, startOwnCluster } from "../support/reliability-redis.ts";
import { ResultsRecorder } from "../support/reliability-rows.ts";
import { startStack } from "../support/reliability-stack.ts";

const run = promisify(execFile);
const results = new ResultsRecorder("cluster-queue-shards");
const actor = { id: "release-bot", role: "deployer" as const };
const names = Array.from({ length: 9 }, (_, i) => `shard-${i}`);
let cluster: OwnCluster;
let fleet: DemoFleet;

beforeAll(async () => {
  cluster = await startOwnCluster(3);
  const image = { gallery: "demoGallery", image: "web", version: "1.0.0" };
  const version = (name: string) => ({ name, targetRegions: ["westeurope"], replication: { seconds: 0 } });
  fleet = await startDemoFleet({
    scenario: parseScenario({
      subscriptionId: "5f0c2a7e-1b3d-4c5e-8f9a-0b1c2d3e4f5a",
      timing: { modelUpdateSeconds: 0, instanceUpgradeSeconds: 0 },
      resourceGroups: [
        {
          name: "rg-demo",
          galleries: [
            {
              name: "demoGallery",
              location: "westeurope",
              images: [{ name: "web", versions: ["1.0.0", "1.1.0"].map(version) }],
            },
          ],
          scaleSets: names.map((name) => ({
            name,
            capacity: 2,
            location: "westeurope",
            upgradePolicy: "Manual",
            image,
          })),
        },
      ],
    }),
  });
});
afterAll(async () => {
  await fleet?.close();
  await cluster?.destroy();
  results.write();
});

async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run("redis-cli", ["-p", String(port), ...args], { timeout: 10_000 });
  return stdout.trim();
}

/** The port of the master serving `slot`. */
async function ownerOf(slot: number): Promise<number> {
  for (const port of cluster.ports) {
    const me = (await cli(port, "cluster", "nodes")).split("\n").find((line) => line.includes("myself"));
    const owns = (me?.split(" ").slice(8) ?? []).some((range) => {
      const [from, to] = range.split("-").map(Number);
      return from !== undefined && slot >= from && slot <= (to ?? from);
    });
    if (owns) return port;
  }
  throw new Error(`no master owns slot ${slot}`);
}

/** The keys one master holds itself (no redirection), matching `pattern`. */
async function keysOn(port: number, pattern: string): Promise<string[]> {
  return (await cli(port, "--scan", "--pattern", pattern)).split("\n").filter(Boolean);
}

describe("queue shards on a Redis Cluster of three masters", () => {
  it("spreads rollouts' jobs over the shards' masters, each rollout's jobs in one shard", async () => {
    await results.trial("engine with queueShards 2, 9 concurrent rollouts", 1, async () => {
      const stack = await startStack({
        clusterNodes: cluster.ports.map((port) => `127.0.0.1:${port}`),
        fleet,
        engine: { queueShards: 2 },
      });
      const client = new Cluster(cluster.ports.map((port) => ({ host: "127.0.0.1", port })));
      try {
        const shards = shardPrefixes(stack.prefix, 2);
        // Each shard's tag hashes where canaryd computes it, on a master of its own, not the state's.
        const owners = await Promise.all(
          shards.map(async (shard) => {
            const slot = Number(
              await cli(cluster.ports[0] ?? 0, "cluster", "keyslot", `${shard}:effects:wait`),
            );
            expect(slot).toBe(keySlot(`${shard}:effects:wait`));
            return ownerOf(slot);
          }),
        );
        const stateOwner = await ownerOf(
          Number(await cli(cluster.ports[0] ?? 0, "cluster", "keyslot", stack.prefix)),
        );
        expect(new Set([stateOwner, ...owners]).size).toBe(3);

        const started = await Promise.all(
          names.map((name) =>
            stack.engine.service.start(
              rolloutSpecSchema.parse({
                name: `web-${name}`,
                image: { galleryImageVersionId: fleet.versionId("1.1.0") },
                waves: [{ name: "only", scaleSets: [fleet.scaleSetId(name)] }],
                strategy: { canary: { instances: 1 }, batchPercent: 100, bakeSeconds: 30 },
                gates: [{ kind: "instanceHealth" }],
              }),
              { actor },
            ),
          ),
        );
        const ids = started.map((view) => view.id);
        const expectedShard = new Map(ids.map((id) => [id, shardOf(id, 2)]));
        // Nine random ids all on one shard would happen once in 2^8 runs.
        expect(new Set(expectedShard.values()).size).toBeGreaterThan(1);

        const done = await Promise.all(ids.map((id) => stack.engine.service.waitForTerminal(id, 60_000)));
        for (const view of done) expect(view.phase, view.reason).toBe("completed");

        // (c) Every job event of a rollout is in the stream of the shard shardOf names, and only there.
        const shardsSeen = new Map<string, Set<number>>();
        const jobsPerShard = [0, 0];
        for (const [i, shard] of shards.entries()) {
          const entries = await client.xrange(`${shard}:${effectQueueName}:events`, "-", "+");
          const jobIds = new Set<string>();
          for (const [, fields] of entries) {
            const at = fields.indexOf("jobId");
            const jobId = at >= 0 ? fields[at + 1] : undefined;
            if (!jobId) continue;
            jobIds.add(jobId);
            const rolloutId = jobId.split(".")[0] ?? "";
            shardsSeen.set(rolloutId, (shardsSeen.get(rolloutId) ?? new Set()).add(i));
          }
          jobsPerShard[i] = jobIds.size;
        }
        for (const id of ids) expect([...(shardsSeen.get(id) ?? [])], id).toEqual([expectedShard.get(id)]);

        // (b) Each shard's keys are on its owner master only; rollouts' jobs reached several masters.
        const queueKeysPerMaster = await Promise.all(
          cluster.ports.map(async (port) => {
            const perShard = await Promise.all(shards.map((shard) => keysOn(port, `${shard}:*`)));
            return perShard.map((keys) => keys.length);
          }),
        );
        shards.forEach((_, i) => {
          cluster.ports.forEach((port, m) => {
            const count = queueKeysPerMaster[m]?.[i] ?? 0;
            if (port === owners[i]) expect(count).toBeGreaterThan(0);
            else expect(count).toBe(0);
          });
        });
        const mastersWithJobs = new Set(
          ids.map((id) => owners[expectedShard.get(id) ?? 0]).filter((port) => port !== undefined),
        );
        expect(mastersWithJobs.size).toBeGreaterThan(1);

        // The rollout state stays in the prefix's slot: one master holds all of it.
        const stateKeys = await Promise.all(cluster.ports.map((port) => keysOn(port, `${stack.prefix}:*`)));
        const stateMasters = cluster.ports.filter((_, m) => (stateKeys[m]?.length ?? 0) > 0);
        expect(stateMasters).toEqual([stateOwner]);

        const perShard = ids.reduce(
          (counts, id) => {
            const shard = expectedShard.get(id) ?? 0;
            counts[shard] = (counts[shard] ?? 0) + 1;
            return counts;
          },
          [0, 0],
        );
        return {
          outcome:
            `9 completed; rollouts per shard ${perShard.join(" / ")}, distinct jobs per shard ${jobsPerShard.join(" / ")}, ` +
            `each shard on its own master (ports ${owners.join(", ")}), the state on a third (${stateOwner}); every rollout's jobs in exactly its shard; ` +
            `rollout state keys on one master (${stateKeys.map((keys) => keys.length).join(" / ")})`,
        };
      } finally {
        client.disconnect();
        await stack.close();
      }
    });
  });
  it("three daemons with three shards share concurrent rollouts; one killed with -9, the others finish them all", async () => {
    await results.trial(
      "3 `canaryd serve` with CANARYD_QUEUE_SHARDS=3, 4 concurrent rollouts, one daemon killed -9 mid-way",
      1,
      async () => {
        const lab = await startCrashLab({
          timeScale: 60,
          label: "cluster-shards",
          clusterNodes: cluster.ports.map((port) => `127.0.0.1:${port}`),
          env: { CANARYD_QUEUE_SHARDS: "3" },
        });
        try {
          const daemons = await Promise.all([lab.startDaemon(), lab.startDaemon(), lab.startDaemon()]);
          const [first, victim, last] = daemons;
          if (!first || !victim || !last) throw new Error("three daemons expected");
          const plans: { name: string; version: string; phase: RolloutPhase; settled: string }[] = [
            { name: "web-a", version: "1.1.0", phase: "completed", settled: "1.1.0" },
            { name: "web-b", version: "1.1.0", phase: "completed", settled: "1.1.0" },
            { name: "web-c", version: "1.1.0", phase: "completed", settled: "1.1.0" },
            { name: "web-d", version: "1.2.0", phase: "rolledBack", settled: "1.0.0" },
          ];
          const started = await Promise.all(
            plans.map((plan, i) =>
              lab.startRollout(daemons[i % 3]?.url ?? first.url, labSpec(plan.version, [plan.name], [])),
            ),
          );
          const deadline = Date.now() + 20_000;
          while (lab.sim.requestLog({ operation: "virtualMachineScaleSets.updateInstances" }).length < 2) {
            if (Date.now() > deadline) throw new Error("no upgrade started within 20 s");
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
          await victim.daemon.stop("SIGKILL");
          const done: RolloutDetail[] = await Promise.all(
            started.map((view, i) =>
              lab.waitForTerminal(i % 2 === 0 ? first.url : last.url, view.id, 60_000),
            ),
          );
          const witnessed = await witnessFleet(lab);
          plans.forEach((plan, i) => {
            const view = done[i];
            expect(view?.phase, `${plan.name}: ${view?.reason ?? ""}`).toBe(plan.phase);
            const record = witnessed[plan.name];
            expect(record?.instances.map((instance) => instance.booted.at(-1))).toEqual(
              record?.instances.map(() => plan.settled),
            );
            if (view) expect(reissuedUpgrades(view, witnessed)).toEqual({ [plan.name]: 0 });
          });
          // The daemons ran the three shards: each rollout's jobs are in its own shard's events.
          const shards = shardPrefixes(lab.prefix, 3);
          const perShard = [0, 0, 0];
          const client = new Cluster(cluster.ports.map((port) => ({ host: "127.0.0.1", port })));
          try {
            for (const view of started) {
              const shard = shardOf(view.id, 3);
              perShard[shard] = (perShard[shard] ?? 0) + 1;
              const events = await client.xrange(`${shards[shard]}:${effectQueueName}:events`, "-", "+");
              const jobIds = events.flatMap(([, fields]) =>
                fields.filter((_, k) => fields[k - 1] === "jobId"),
              );
              expect(jobIds.some((jobId) => jobId.startsWith(`${view.id}.`))).toBe(true);
            }
          } finally {
            client.disconnect();
          }
          return {
            outcome: `rollouts per shard ${perShard.join(" / ")}; all 4 ended as planned (3 completed on 1.1.0, 1 rolledBack to 1.0.0) on the 2 surviving daemons; no manual upgrade reissued`,
          };
        } finally {
          await lab.close();
        }
      },
    );
  });
});
