/**
 * kill -9 of `canaryd serve` at exact points of a rollout (the simulator's hold fault stops the
 * world there), then a new daemon on the same Redis and simulator: the rollout ends as an
 * uninterrupted one would, previous versions stay as recorded, and no instance is rebooted twice
 * in one direction (the simulator's own record of every upgrade it accepted is the witness).
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import type { RolloutPhase } from "../../src/domain/rollout-view.ts";
import { demoSpec, expectEndedLikeAnUninterruptedRun } from "../support/crash-expectations.ts";
import { type CrashLab, scaleSetId, startCrashLab } from "../support/crash-lab.ts";
import { ResultsRecorder } from "../support/reliability-rows.ts";

const upgrade = "virtualMachineScaleSets.updateInstances";
const modelWrite = "virtualMachineScaleSets.update";
const listInstances = "virtualMachineScaleSetVMs.list";
const webA = ["0", "2", "3", "7", "9"];
/** A test takes 15-30 s on an idle machine (two daemon starts are most of it); the 2-core CI box is slower. */
const testTimeoutMs = 150_000;
let lab: CrashLab;
const results = new ResultsRecorder("crash-exact-points");
afterAll(() => results.write());

beforeEach(async () => {
  lab = await startCrashLab({ timeScale: 20, label: "crash-points" });
});
afterEach(async () => {
  await lab?.close();
});

async function finishOnNewDaemon(id: string, expected: { phase: RolloutPhase; target: string }) {
  const { url } = await lab.startDaemon();
  const done = await lab.waitForTerminal(url, id, 90_000);
  return { outcome: await expectEndedLikeAnUninterruptedRun(lab, done, { ...expected, previous: "1.0.0" }) };
}

/** Runs one exact-point scenario and records its row for docs/reliability.md. */
const scenario = (name: string, run: () => Promise<{ outcome: string }>) => () => results.trial(name, 1, run);

describe("canaryd killed with -9 at an exact point, then restarted", () => {
  it(
    "after the model update, before the canary's manual upgrade reached Azure: completes, each instance upgraded once",
    scenario(
      "kill -9 after the model update, before the canary's manual upgrade (1.1.0, 2 scale sets)",
      async () => {
        const { daemon, url } = await lab.startDaemon();
        const hold = lab.sim.addFault({ kind: "hold", operation: upgrade, count: 1 });
        const view = await lab.startRollout(url, demoSpec("1.1.0", ["web-a"], ["web-b"]));
        await lab.waitForHeld(upgrade);
        // The model already names 1.1.0; no instance runs it yet.
        expect(lab.sim.instanceImages(scaleSetId("web-a")).every((i) => !i.latestModelApplied)).toBe(true);

        await daemon.stop("SIGKILL");
        lab.sim.release(hold.id);

        return finishOnNewDaemon(view.id, { phase: "completed", target: "1.1.0" });
      },
    ),
    testTimeoutMs,
  );

  it(
    "during an upgrade Azure accepted, its instance still Updating: the new daemon observes it without reissuing it and completes",
    scenario(
      "kill -9 during a manual upgrade Azure accepted, the canary still Updating (1.1.0)",
      async () => {
        // Whichever instance is the canary stays Updating until the fault is lifted.
        const stuck = webA.map(
          (instanceId) =>
            lab.sim.addFault({ kind: "instanceNeverReturns", scaleSet: "web-a", instanceId }).id,
        );
        const { daemon, url } = await lab.startDaemon();
        const accepted = lab.sim.addFault({ kind: "hold", operation: upgrade, count: 1 });
        const view = await lab.startRollout(url, demoSpec("1.1.0", ["web-a"], ["web-b"]));
        await lab.waitForHeld(upgrade);
        // The next instance list is the upgrade's own observation of the batch it just started.
        const observed = lab.sim.addFault({ kind: "hold", operation: listInstances, count: 1 });
        lab.sim.release(accepted.id);
        await lab.waitForHeld(listInstances);
        const updating = lab.sim
          .instanceImages(scaleSetId("web-a"))
          .filter((i) => i.provisioningState === "Updating");
        expect(updating).toHaveLength(1);

        await daemon.stop("SIGKILL");
        lab.sim.release(observed.id);
        const { url: next } = await lab.startDaemon();
        // The new daemon looks at the half-done upgrade before the instance comes back.
        const restartedAt = new Date().toISOString();
        await expect
          .poll(() => lab.sim.requestLog({ operation: listInstances, since: restartedAt }).length, {
            timeout: 30_000,
          })
          .toBeGreaterThan(0);
        expect(
          lab.sim.instanceImages(scaleSetId("web-a")).filter((i) => i.provisioningState === "Updating"),
        ).toHaveLength(1);
        for (const id of stuck) lab.sim.removeFault(id);

        const done = await lab.waitForTerminal(next, view.id, 90_000);
        return {
          outcome: await expectEndedLikeAnUninterruptedRun(lab, done, {
            phase: "completed",
            target: "1.1.0",
            previous: "1.0.0",
          }),
        };
      },
    ),
    testTimeoutMs,
  );

  it(
    "mid-bake: the bake's deadline survives and the rollout completes",
    scenario("kill -9 mid-bake (1.1.0)", async () => {
      const { daemon, url } = await lab.startDaemon();
      const view = await lab.startRollout(url, demoSpec("1.1.0", ["web-a"], ["web-b"], 60));
      const baking = await lab.waitForPhase(url, view.id, ["baking"], 30_000);
      expect(baking.phase).toBe("baking");

      await daemon.stop("SIGKILL");

      return finishOnNewDaemon(view.id, { phase: "completed", target: "1.1.0" });
    }),
    testTimeoutMs,
  );

  it(
    "mid-rollback, at the revert of the model: 1.2.0 still ends rolled back, everything on 1.0.0",
    scenario("kill -9 mid-rollback, at the model's revert (1.2.0)", async () => {
      const { daemon, url } = await lab.startDaemon();
      const canary = lab.sim.addFault({ kind: "hold", operation: upgrade, count: 1 });
      const view = await lab.startRollout(url, demoSpec("1.2.0", ["web-a"], ["web-b"]));
      await lab.waitForHeld(upgrade);
      // The forward model write is done (it precedes the canary's upgrade): the next write is the revert.
      const revert = lab.sim.addFault({ kind: "hold", operation: modelWrite, count: 1 });
      lab.sim.release(canary.id);
      await lab.waitForHeld(modelWrite);
      expect((await lab.get(url, view.id)).phase).toBe("rollingBack");

      await daemon.stop("SIGKILL");
      lab.sim.release(revert.id);

      return finishOnNewDaemon(view.id, { phase: "rolledBack", target: "1.2.0" });
    }),
    testTimeoutMs,
  );

  it(
    "mid-rollback, at the rollback's manual upgrade: 1.2.0 still ends rolled back, the canary brought back once",
    scenario("kill -9 mid-rollback, at the rollback's manual upgrade (1.2.0)", async () => {
      const { daemon, url } = await lab.startDaemon();
      const canary = lab.sim.addFault({ kind: "hold", operation: upgrade, count: 1 });
      const view = await lab.startRollout(url, demoSpec("1.2.0", ["web-a"], ["web-b"]));
      await lab.waitForHeld(upgrade);
      const revert = lab.sim.addFault({ kind: "hold", operation: modelWrite, count: 1 });
      lab.sim.release(canary.id);
      await lab.waitForHeld(modelWrite);
      // The model goes back first; the manual upgrade after it is the rollback's.
      const rollbackUpgrade = lab.sim.addFault({ kind: "hold", operation: upgrade, count: 1 });
      lab.sim.release(revert.id);
      await lab.waitForHeld(upgrade);
      expect((await lab.get(url, view.id)).phase).toBe("rollingBack");

      await daemon.stop("SIGKILL");
      lab.sim.release(rollbackUpgrade.id);

      return finishOnNewDaemon(view.id, { phase: "rolledBack", target: "1.2.0" });
    }),
    testTimeoutMs,
  );
});

describe("two canaryd processes on one Redis", () => {
  it(
    "the one holding a job is killed mid-rollout; the other, already running, finishes it",
    scenario(
      "two daemons on one Redis: the one holding the job killed mid-rollout (1.1.0, 3 scale sets)",
      async () => {
        const first = await lab.startDaemon();
        const canary = lab.sim.addFault({ kind: "hold", operation: upgrade, count: 1 });
        const view = await lab.startRollout(first.url, demoSpec("1.1.0", ["web-a"], ["web-b", "web-c"]));
        await lab.waitForHeld(upgrade);
        // Only the first process runs: the next upgrade it issues (after the bake) is held, and its job is its own.
        const promotion = lab.sim.addFault({ kind: "hold", operation: upgrade, count: 1 });
        lab.sim.release(canary.id);
        await lab.waitForHeld(upgrade);
        const second = await lab.startDaemon();

        await first.daemon.stop("SIGKILL");
        lab.sim.release(promotion.id);

        const done = await lab.waitForTerminal(second.url, view.id, 90_000);
        return {
          outcome: await expectEndedLikeAnUninterruptedRun(lab, done, {
            phase: "completed",
            target: "1.1.0",
            previous: "1.0.0",
          }),
        };
      },
    ),
    testTimeoutMs,
  );
});
