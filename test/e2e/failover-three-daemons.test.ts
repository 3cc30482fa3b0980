/**
 * Scale-out on one Redis: three `canaryd serve` processes share 20 concurrent rollouts (one scale
 * set each; 16 of a good version, 4 of a bad one), and one process is killed with -9 mid-way. The
 * two survivors finish every rollout as an uninterrupted run would, and no effect is applied twice:
 * one accepted model write per scale set and direction, one reboot per instance and direction.
 */
import { readFile } from "node:fs/promises";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { Scenario } from "../../src/simulator/index.ts";
import { reissuedUpgrades } from "../support/crash-expectations.ts";
import {
  type CrashLab,
  demoScenario,
  galleryVersionId,
  scaleSetId,
  startCrashLab,
} from "../support/crash-lab.ts";
import { crashInvariantViolations, readFleetRecord } from "../support/fleet-witness.ts";
import { ResultsRecorder } from "../support/reliability-rows.ts";

const rollouts = 20;
const bad = new Set([3, 8, 13, 18]);
const names = Array.from({ length: rollouts }, (_, i) => `app-${String(i).padStart(2, "0")}`);
const results = new ResultsRecorder("failover-three-daemons");
let lab: CrashLab;

/** The demo fleet plus 20 Manual scale sets of three instances, all on 1.0.0. */
async function twentyScaleSets(): Promise<Scenario> {
  const scenario = parse(await readFile(demoScenario, "utf8")) as {
    resourceGroups: { scaleSets: Record<string, unknown>[] }[];
  };
  scenario.resourceGroups[0]?.scaleSets.push(
    ...names.map((name, i) => ({
      name,
      location: i % 2 ? "northeurope" : "westeurope",
      capacity: 3,
      image: { gallery: "demoGallery", image: "web", version: "1.0.0" },
    })),
  );
  return scenario as unknown as Scenario;
}

beforeEach(async () => {
  lab = await startCrashLab({ timeScale: 10, label: "failover", scenario: await twentyScaleSets() });
});
afterEach(async () => {
  await lab?.close();
});
afterAll(() => results.write());

/** Requests Azure accepted for one scale set's own path (not its instances'). */
const acceptedFor = (operation: string, name: string) =>
  lab.sim
    .requestLog({ operation })
    .filter((e) => e.status < 300 && new RegExp(`/virtualMachineScaleSets/${name}(/|$)`).test(e.path)).length;

describe("three canaryd processes on one Redis, 20 concurrent rollouts", () => {
  it(
    "one process killed mid-way: every rollout finishes as an uninterrupted run would, no effect applied twice",
    () =>
      results.trial(
        "3 daemons, 20 concurrent rollouts (16 good, 4 bad), one daemon killed -9 mid-way",
        1,
        async () => {
          const daemons = await Promise.all([lab.startDaemon(), lab.startDaemon(), lab.startDaemon()]);
          const [victim, ...survivors] = daemons;
          if (!victim || !survivors[0]) throw new Error("daemons did not start");
          const started = await Promise.all(
            names.map((name, i) =>
              lab.startRollout(daemons[i % 3]?.url ?? victim.url, {
                name: `${name}-${bad.has(i) ? "1.2.0" : "1.1.0"}`,
                image: { galleryImageVersionId: galleryVersionId(bad.has(i) ? "1.2.0" : "1.1.0") },
                waves: [{ name: "only", scaleSets: [scaleSetId(name)] }],
                strategy: { canary: { instances: 1 }, batchPercent: 50, bakeSeconds: 5 },
              }),
            ),
          );
          // Mid-way: about half of the canaries' upgrades were accepted.
          await expect
            .poll(
              () =>
                names.reduce(
                  (sum, name) => sum + acceptedFor("virtualMachineScaleSets.updateInstances", name),
                  0,
                ),
              {
                timeout: 60_000,
                interval: 20,
              },
            )
            .toBeGreaterThanOrEqual(rollouts / 2);
          await victim.daemon.stop("SIGKILL");
          const phasesAtKill = await Promise.all(
            started.map((view) => lab.get(survivors[0]?.url ?? "", view.id)),
          );
          const running = phasesAtKill.filter(
            (view) => !["completed", "rolledBack"].includes(view.phase),
          ).length;
          // Mid-way means work was left to take over.
          expect(running).toBeGreaterThan(0);

          const done = await Promise.all(
            started.map((view, i) => lab.waitForTerminal(survivors[i % 2]?.url ?? "", view.id, 120_000)),
          );
          const accepted = (name: string) => acceptedFor("virtualMachineScaleSets.updateInstances", name);
          const fleet = await readFleetRecord(lab.stateFile, accepted, names);
          const problems = done.flatMap((view, i) => {
            const name = names[i] ?? "";
            const own = {
              [name]: fleet[name] ?? { name, modelVersion: "?", instances: [], acceptedUpgradeRequests: 0 },
            };
            const expected = bad.has(i)
              ? { phase: "rolledBack" as const, target: "1.2.0", previous: "1.0.0" }
              : { phase: "completed" as const, target: "1.1.0", previous: "1.0.0" };
            const modelWrites = acceptedFor("virtualMachineScaleSets.update", name);
            const wantedWrites = expected.phase === "completed" ? 1 : 2;
            const reissued = reissuedUpgrades(view, own)[name] ?? 0;
            return [
              ...crashInvariantViolations(view, own, expected).map((p) => `${view.name}: ${p}`),
              ...(modelWrites === wantedWrites
                ? []
                : [`${name}: ${modelWrites} model writes accepted, expected ${wantedWrites}`]),
              ...(reissued === 0 ? [] : [`${name}: ${reissued} manual upgrade(s) reissued`]),
            ];
          });
          expect(problems).toEqual([]);
          const reboots = Object.values(fleet).reduce(
            (sum, ss) => sum + ss.instances.reduce((s, i) => s + i.reboots, 0),
            0,
          );
          return {
            outcome: `${running} of 20 still running at the kill; 16/16 completed and 4/4 rolledBack on the two survivors; ${reboots} instance reboots, none repeated in a direction; one model write per scale set and direction; no manual upgrade reissued`,
          };
        },
      ),
    240_000,
  );
});
