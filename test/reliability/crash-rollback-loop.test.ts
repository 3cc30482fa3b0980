/**
 * kill -9 inside the rollback's convergence loop (machines/rollback-runbook.ts: reverting ->
 * inspecting -> rollbackUpgrading -> rollbackVerifying -> inspecting ... -> rolledBack, transient
 * failures waiting in rollbackRetryWait). Each case rolls out 1.2.0 (a kernel panic: the canary
 * fails its gates) over web-a then web-b, stops the world inside the loop with a hold fault, kills
 * the only daemon, lets Azure finish what it was asked, and starts a fresh daemon, which must end
 * the rollback as an uninterrupted run would: `rolledBack`, the model and every instance that
 * exists (also one that appeared while no daemon ran) on 1.0.0, no manual upgrade reissued and no
 * model write resubmitted (crash-expectations.ts). Where the kill happened is proven from the
 * rollout's outbox in Redis at the kill, not assumed from timing.
 *
 * One lab for all cases: each ends with web-a back on 1.0.0, where the next begins.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { demoSpec, expectEndedLikeAnUninterruptedRun } from "../support/crash-expectations.ts";
import { type CrashLab, type RolloutDetail, scaleSetId, startCrashLab } from "../support/crash-lab.ts";
import type { DaemonProcess } from "../support/daemon-process.ts";
import { ResultsRecorder } from "../support/reliability-rows.ts";

const upgrade = "virtualMachineScaleSets.updateInstances";
const modelWrite = "virtualMachineScaleSets.update";
const readModel = "virtualMachineScaleSets.get";
const listInstances = "virtualMachineScaleSetVMs.list";
const timeScale = 20;

const results = new ResultsRecorder("crash-rollback-loop");
let lab: CrashLab;
let daemon: { daemon: DaemonProcess; url: string };

beforeAll(async () => {
  lab = await startCrashLab({ timeScale, label: "crash-loop" });
  daemon = await lab.startDaemon();
}, 60_000);
afterAll(async () => {
  results.write();
  await lab?.close();
}, 60_000);

/** Holds the next request to `operation`, then lets the one `held` holds go on; resolves once held. */
async function moveHold(held: { id: string }, operation: string): Promise<{ id: string }> {
  const next = lab.sim.addFault({ kind: "hold", operation, count: 1 });
  lab.sim.release(held.id);
  await lab.waitForHeld(operation);
  return next;
}

/** Starts 1.2.0 and stops the world at the revert's model write (the first step of the loop). */
async function rollBackTo1_0_0(): Promise<{ id: string; revert: { id: string } }> {
  const canary = lab.sim.addFault({ kind: "hold", operation: upgrade, count: 1 });
  const view = await lab.startRollout(daemon.url, demoSpec("1.2.0", ["web-a"], ["web-b"]));
  await lab.waitForHeld(upgrade);
  // The forward model write precedes the canary's upgrade: the next model write is the revert.
  const revert = await moveHold(canary, modelWrite);
  expect((await lab.get(daemon.url, view.id)).phase).toBe("rollingBack");
  return { id: view.id, revert };
}

/** The pending effect of `kind` on web-a, as the next daemon will find it. */
async function pending(id: string, kind: string) {
  const entries = await lab.outbox(id);
  return entries.find(
    (e) => e.effect.kind === kind && "scaleSetId" in e.effect && e.effect.scaleSetId === scaleSetId("web-a"),
  );
}

/** Kills the daemon, lets Azure answer what it holds, and finishes on a fresh daemon. */
async function killAndFinish(
  id: string,
  startedMs: number,
  meanwhile: () => void | Promise<void> = () => {},
): Promise<{ done: RolloutDetail; outcome: string }> {
  await daemon.daemon.stop("SIGKILL");
  await meanwhile();
  lab.sim.clearFaults();
  daemon = await lab.startDaemon();
  const done = await lab.waitForTerminal(daemon.url, id, 60_000);
  const outcome = await expectEndedLikeAnUninterruptedRun(
    lab,
    done,
    { phase: "rolledBack", target: "1.2.0", previous: "1.0.0" },
    startedMs,
  );
  return { done, outcome };
}

const trial = (scenario: string, run: () => Promise<{ outcome: string }>) => () =>
  results.trial(`kill -9 inside the rollback loop: ${scenario} (1.2.0 on web-a, web-b)`, 1, run);

describe("canaryd killed with -9 inside the rollback's convergence loop, then restarted", () => {
  it(
    "after revertModel's write was accepted, before its outcome was committed: not written again",
    trial("revertModel's write accepted, its outcome not committed", async () => {
      const startedMs = Date.now();
      const { id, revert } = await rollBackTo1_0_0();
      // The write goes through; the effect's next read of the model (its observation) is held.
      await moveHold(revert, readModel);
      const entry = await pending(id, "revertModel");
      expect(entry?.progress).toMatchObject({ writes: 1 });

      const { outcome } = await killAndFinish(id, startedMs);
      return { outcome: `killed with the revert accepted (progress: 1 write) and unanswered; ${outcome}` };
    }),
    120_000,
  );

  it(
    "between inspectScaleSet's read and its commit: read again, converges",
    trial("between inspectScaleSet's read and its commit", async () => {
      const startedMs = Date.now();
      const { id, revert } = await rollBackTo1_0_0();
      // After the revert the loop reads the model and lists every instance: the list is held.
      await moveHold(revert, listInstances);
      expect(await pending(id, "inspectScaleSet")).toBeDefined();
      expect(await pending(id, "revertModel")).toBeUndefined();

      const { done, outcome } = await killAndFinish(id, startedMs);
      expect(done.timeline.filter((e) => e.type === "scaleSet.rolledBack")).toHaveLength(1);
      return { outcome: `killed with inspectScaleSet's read unanswered; ${outcome}` };
    }),
    120_000,
  );

  it(
    "mid rollback upgrade, after updateInstances was accepted, the canary still Updating: observed, not reissued",
    trial("mid rollback upgrade, updateInstances accepted, the canary still Updating", async () => {
      const startedMs = Date.now();
      const { id, revert } = await rollBackTo1_0_0();
      const rollbackUpgrade = await moveHold(revert, upgrade);
      // Whichever instance the rollback upgrades stays Updating until the faults are lifted.
      for (const instanceId of ["0", "2", "3", "7", "9"])
        lab.sim.addFault({ kind: "instanceNeverReturns", scaleSet: "web-a", instanceId });
      await moveHold(rollbackUpgrade, listInstances);
      const entry = await pending(id, "upgradeInstances");
      expect(entry?.effect).toMatchObject({ purpose: "rollback" });
      expect((entry?.progress as { issued?: unknown[] } | undefined)?.issued).toHaveLength(1);
      const updating = lab.sim
        .instanceImages(scaleSetId("web-a"))
        .filter((i) => i.provisioningState === "Updating");
      expect(updating).toHaveLength(1);

      const { outcome } = await killAndFinish(id, startedMs);
      return { outcome: `killed with the rollback's upgrade accepted and 1 instance Updating; ${outcome}` };
    }),
    120_000,
  );

  it(
    "in rollbackRetryWait during an ARM outage: the retry timer survives, the loop converges after the outage",
    trial("in rollbackRetryWait during an ARM outage (503 for 120 simulated s)", async () => {
      const startedMs = Date.now();
      const { id, revert } = await rollBackTo1_0_0();
      // The revert reached Azure before the outage; every read after it answers 503.
      lab.sim.armOutage({ simulatedSeconds: 120, retryAfterSeconds: 0 });
      lab.sim.release(revert.id);
      const deadline = Date.now() + 30_000;
      let timer = await pending(id, "startTimer");
      while (!(timer?.effect.kind === "startTimer" && timer.effect.timer === "rollbackRetry")) {
        if (Date.now() > deadline) throw new Error("the rollback never waited in rollbackRetryWait");
        await new Promise((resolve) => setTimeout(resolve, 50));
        timer = await pending(id, "startTimer");
      }
      expect(await pending(id, "revertModel")).toBeUndefined();

      const { done, outcome } = await killAndFinish(id, startedMs);
      const retries = done.timeline.filter((e) => e.type === "rollback.retry").length;
      expect(retries).toBeGreaterThan(0);
      expect(done.timeline.some((e) => e.type === "rollback.resumed")).toBe(true);
      return {
        outcome: `killed in rollbackRetryWait (timer pending); ${retries} retry wait(s) in all; ${outcome}`,
      };
    }),
    120_000,
  );

  it(
    "dead during a rollback while the scale set grows: the new instances end on 1.0.0 too",
    trial("scale-out of 2 instances on the 1.2.0 model while no daemon runs", async () => {
      const startedMs = Date.now();
      const { id, revert } = await rollBackTo1_0_0();
      let added: string[] = [];
      const { done, outcome } = await killAndFinish(id, startedMs, () => {
        // The model still names 1.2.0 (its revert is held): the new instances boot 1.2.0.
        added = lab.sim.scaleOut("web-a", 2).instanceIds;
        lab.sim.release(revert.id);
      });
      const images = lab.sim.instanceImages(scaleSetId("web-a"));
      expect(images.filter((i) => added.includes(i.instanceId)).map((i) => i.version)).toEqual([
        "1.0.0",
        "1.0.0",
      ]);
      const appeared = done.timeline.flatMap((e) =>
        e.type === "rollback.upgrading" ? ((e.data?.appeared as string[] | undefined) ?? []) : [],
      );
      expect([...appeared].sort()).toEqual([...added].sort());
      return { outcome: `killed at the revert; instances ${added.join(", ")} appeared on 1.2.0; ${outcome}` };
    }),
    120_000,
  );
});
