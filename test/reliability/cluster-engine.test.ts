/**
 * canaryd's engine on a Redis Cluster of three masters (started here with `redis-server
 * --cluster-enabled yes` and `redis-cli --cluster create`, loopback only), configured with
 * `redis.clusterNodes` so it talks through ioredis' Cluster client:
 * - one in-process engine runs a good rollout to completion and rolls a bad one back, its live
 *   timeline arriving over the cluster's pub/sub, every key on the one master of the prefix's slot;
 * - three `canaryd serve` processes (CANARYD_REDIS_CLUSTER_NODES) share concurrent rollouts; one
 *   is killed with -9 mid-way and the other two finish them all, no manual upgrade reissued.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RolloutPhase } from "../../src/domain/rollout-view.ts";
import { demoSpec as labSpec, reissuedUpgrades, witnessFleet } from "../support/crash-expectations.ts";
import { type RolloutDetail, startCrashLab } from "../support/crash-lab.ts";
import { type OwnCluster, startOwnCluster } from "../support/reliability-redis.ts";
import { ResultsRecorder } from "../support/reliability-rows.ts";
import { demoSpec, startStack, versionsOf } from "../support/reliability-stack.ts";

const run = promisify(execFile);
const results = new ResultsRecorder("cluster-engine");
const actor = { id: "release-bot", role: "deployer" as const };
let cluster: OwnCluster;
let nodes: string[];

beforeAll(async () => {
  cluster = await startOwnCluster(3);
  nodes = cluster.ports.map((port) => `127.0.0.1:${port}`);
});
afterAll(async () => {
  await cluster?.destroy();
  results.write();
});

/** How many keys under `prefix` each master holds. */
async function keysPerMaster(prefix: string): Promise<number[]> {
  return Promise.all(
    cluster.ports.map(async (port) => {
      const { stdout } = await run("redis-cli", ["-p", String(port), "--scan", "--pattern", `${prefix}*`], {
        timeout: 5_000,
      });
      return stdout.split("\n").filter(Boolean).length;
    }),
  );
}

describe("canaryd's engine on a Redis Cluster of three masters", () => {
  it("completes a good rollout and rolls a bad one back, with every key on one master", async () => {
    await results.trial(
      "one engine on the cluster: rollout of 1.1.0, then of 1.2.0 (kernel panic)",
      2,
      async () => {
        const stack = await startStack({ clusterNodes: nodes });
        try {
          const { engine, fleet } = stack;
          const good = await engine.service.start(demoSpec(fleet, "1.1.0", [["web-c"]]), { actor });
          // Entries published by the commit scripts on the slot's master reach this subscriber.
          let liveEntries = 0;
          const unsubscribe = await engine.service.subscribe(good.id, () => {
            liveEntries += 1;
          });
          const completed = await engine.service.waitForTerminal(good.id, 30_000);
          await unsubscribe();
          expect(completed.phase, completed.reason).toBe("completed");
          expect(versionsOf(fleet, ["web-c"])["web-c"]?.every((v) => v === "1.1.0")).toBe(true);
          expect(liveEntries).toBeGreaterThan(0);

          const bad = await engine.service.start(demoSpec(fleet, "1.2.0", [["web-a"]]), { actor });
          const rolledBack = await engine.service.waitForTerminal(bad.id, 30_000);
          expect(rolledBack.phase, rolledBack.reason).toBe("rolledBack");
          expect(versionsOf(fleet, ["web-a"])["web-a"]?.every((v) => v === "1.0.0")).toBe(true);

          expect(await engine.service.ready()).toMatchObject({ ready: true });
          const perMaster = await keysPerMaster(stack.prefix);
          expect(perMaster.filter((count) => count > 0)).toHaveLength(1);
          return {
            outcome: `completed (web-c on 1.1.0, ${liveEntries} timeline entries live over cluster pub/sub), then rolledBack (web-a back on 1.0.0); keys per master ${perMaster.join(" / ")}: one master holds all`,
          };
        } finally {
          await stack.close();
        }
      },
    );
  });

  it("three daemons share concurrent rollouts; one killed with -9 mid-way, the others finish them all", async () => {
    await results.trial(
      "3 `canaryd serve` on the cluster, 4 concurrent rollouts, one daemon killed -9 mid-way",
      1,
      async () => {
        const lab = await startCrashLab({ timeScale: 60, label: "cluster-engine", clusterNodes: nodes });
        try {
          const daemons = await Promise.all([lab.startDaemon(), lab.startDaemon(), lab.startDaemon()]);
          const [first, victim, last] = daemons;
          if (!first || !victim || !last) throw new Error("three daemons expected");
          const ready = await fetch(`${first.url}/readyz`);
          expect(ready.status).toBe(200);

          const plans: { name: string; version: string; phase: RolloutPhase; settled: string }[] = [
            { name: "web-a", version: "1.1.0", phase: "completed", settled: "1.1.0" },
            { name: "web-b", version: "1.1.0", phase: "completed", settled: "1.1.0" },
            { name: "web-c", version: "1.1.0", phase: "completed", settled: "1.1.0" },
            { name: "web-d", version: "1.2.0", phase: "rolledBack", settled: "1.0.0" },
          ];
          // Spread over the three APIs: every daemon takes part from the start.
          const started = await Promise.all(
            plans.map((plan, i) =>
              lab.startRollout(daemons[i % 3]?.url ?? first.url, labSpec(plan.version, [plan.name], [])),
            ),
          );
          // Mid-way: the first manual upgrades (canaries) were accepted, the rollouts are not done.
          const deadline = Date.now() + 20_000;
          while (lab.sim.requestLog({ operation: "virtualMachineScaleSets.updateInstances" }).length < 2) {
            if (Date.now() > deadline) throw new Error("no upgrade started within 20 s");
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
          const phasesAtKill = await Promise.all(started.map((view) => lab.get(first.url, view.id)));
          await victim.daemon.stop("SIGKILL");

          const done: RolloutDetail[] = await Promise.all(
            started.map((view, i) =>
              lab.waitForTerminal(i % 2 === 0 ? first.url : last.url, view.id, 40_000),
            ),
          );
          const fleet = await witnessFleet(lab);
          plans.forEach((plan, i) => {
            const view = done[i];
            expect(view?.phase, `${plan.name}: ${view?.reason ?? ""}`).toBe(plan.phase);
            const record = fleet[plan.name];
            expect(record?.instances.map((instance) => instance.booted.at(-1))).toEqual(
              record?.instances.map(() => plan.settled),
            );
            if (view) expect(reissuedUpgrades(view, fleet)).toEqual({ [plan.name]: 0 });
          });
          const killedIn = phasesAtKill.map((view) => view.phase).join(", ");
          return {
            outcome: `killed while the rollouts were in ${killedIn}; all 4 ended as planned (3 completed on 1.1.0, 1 rolledBack to 1.0.0) on the 2 surviving daemons; no manual upgrade reissued`,
          };
        } finally {
          await lab.close();
        }
      },
    );
  });
});
