/**
 * kill -9 inside each effect kind the e2e crash tests do not already stop in (they cover the
 * manual upgrade before and after Azure accepted it, the bake timer, the model's revert and the
 * rollback's upgrade): preflight, the forward model write, the look for new instances and the
 * gate evaluation, on a good and on a bad version. The simulator holds the effect's Azure
 * request, the only daemon is killed, Azure answers the orphaned request, and a new daemon
 * finishes. One lab for all cases: each rollout starts from whatever version the previous left.
 * (checkReplication runs only while a version still replicates when preflight looks; the demo's
 * versions finish within a simulated 4 s, before a daemon has even started: not reached here.)
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RolloutPhase } from "../../src/domain/rollout-view.ts";
import { demoSpec, expectEndedLikeAnUninterruptedRun } from "../support/crash-expectations.ts";
import { type CrashLab, startCrashLab } from "../support/crash-lab.ts";
import type { DaemonProcess } from "../support/daemon-process.ts";
import { ResultsRecorder } from "../support/reliability-rows.ts";

interface EffectCase {
  effect: string;
  /** The Azure request the effect makes, held until the rollout is in one of `phases`. */
  operation: string;
  phases: RolloutPhase[];
  bad: boolean;
}

const cases: EffectCase[] = [
  { effect: "preflight", operation: "virtualMachineScaleSets.get", phases: ["preflight"], bad: false },
  {
    effect: "setModelImage (the write itself)",
    operation: "virtualMachineScaleSets.update",
    phases: ["canary"],
    bad: false,
  },
  // After the bake the rollout turns to promoting and first lists the scale set for new instances.
  {
    effect: "observeScaleSet",
    operation: "virtualMachineScaleSetVMs.list",
    phases: ["promoting"],
    bad: false,
  },
  {
    effect: "evaluateGates (passing)",
    operation: "virtualMachineScaleSetVMs.retrieveBootDiagnosticsData",
    phases: ["canary"],
    bad: false,
  },
  {
    effect: "evaluateGates (failing: the rollback is decided after the restart)",
    operation: "virtualMachineScaleSetVMs.retrieveBootDiagnosticsData",
    phases: ["canary"],
    bad: true,
  },
];

const results = new ResultsRecorder("crash-every-effect");
let lab: CrashLab;
let daemon: { daemon: DaemonProcess; url: string };
let fleetVersion = "1.0.0";

beforeAll(async () => {
  lab = await startCrashLab({ timeScale: 20, label: "crash-effects" });
  daemon = await lab.startDaemon();
}, 60_000);
afterAll(async () => {
  results.write();
  await lab?.close();
}, 60_000);

describe("canaryd killed with -9 inside each effect kind, then restarted", () => {
  for (const effectCase of cases) {
    it(
      `inside ${effectCase.effect}: ends as an uninterrupted run would`,
      () =>
        results.trial(`kill -9 inside ${effectCase.effect} (web-a, web-b)`, 1, async () => {
          // Computed now: the previous case may have moved the fleet.
          const goodTarget = fleetVersion === "1.0.0" ? "1.1.0" : "1.0.0";
          const version = effectCase.bad ? "1.2.0" : goodTarget;
          const startedMs = Date.now();
          let hold = lab.sim.addFault({ kind: "hold", operation: effectCase.operation, count: 1 });
          const view = await lab.startRollout(daemon.url, demoSpec(version, ["web-a"], ["web-b"]));
          // Hold the effect's requests one at a time until the one made in the wanted phase.
          let phase: RolloutPhase | undefined;
          for (let held = 0; held < 20; held++) {
            await lab.waitForHeld(effectCase.operation);
            phase = (await lab.get(daemon.url, view.id)).phase;
            if (effectCase.phases.includes(phase)) break;
            const next = lab.sim.addFault({ kind: "hold", operation: effectCase.operation, count: 1 });
            lab.sim.release(hold.id);
            hold = next;
          }
          expect(effectCase.phases).toContain(phase);

          await daemon.daemon.stop("SIGKILL");
          lab.sim.release(hold.id);
          lab.sim.clearFaults();
          daemon = await lab.startDaemon();

          const done = await lab.waitForTerminal(daemon.url, view.id, 45_000);
          const outcome = await expectEndedLikeAnUninterruptedRun(
            lab,
            done,
            { phase: effectCase.bad ? "rolledBack" : "completed", target: version, previous: fleetVersion },
            startedMs,
          );
          if (!effectCase.bad) fleetVersion = version;
          return { outcome: `killed in ${phase}; ${outcome}` };
        }),
      120_000,
    );
  }
});
