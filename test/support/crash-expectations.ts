/**
 * What a crashed rollout must end with, on the demo fleet: the phase, versions and reboots an
 * uninterrupted run of the same spec reaches. Shared by the e2e crash tests and the reliability suite.
 */
import { expect } from "vitest";
import type { RolloutPhase } from "../../src/domain/rollout-view.ts";
import { type CrashLab, galleryVersionId, type RolloutDetail, scaleSetId } from "./crash-lab.ts";
import { crashInvariantViolations, type FleetRecord, readFleetRecord } from "./fleet-witness.ts";

/** The demo scale sets a rollout may touch (web-auto is refused at preflight). */
export const demoScaleSets = ["web-a", "web-b", "web-c", "web-d"];

export function demoSpec(version: string, first: string[], rest: string[], bakeSeconds = 5) {
  return {
    name: `web-${version}`,
    image: { galleryImageVersionId: galleryVersionId(version) },
    waves: [
      { name: "first", scaleSets: first.map(scaleSetId) },
      ...(rest.length > 0 ? [{ name: "rest", scaleSets: rest.map(scaleSetId) }] : []),
    ],
    strategy: { canary: { instances: 1 }, batchPercent: 50, bakeSeconds, maxParallelScaleSets: 3 },
    gates: [{ kind: "instanceHealth" }, { kind: "bootDiagnostics" }],
    rollback: { automatic: true },
    owner: "release-team",
    changeRecord: "CHG-CRASH",
  };
}

export interface ExpectedEnd {
  phase: RolloutPhase;
  target: string;
  previous: string;
}

/** Reads the fleet as the simulator recorded it (upgrades accepted since `sinceWallMs`). */
export function witnessFleet(lab: CrashLab, sinceWallMs = 0): Promise<FleetRecord> {
  const accepted = (operation: string) => (name: string) =>
    lab.sim
      .requestLog({ operation, since: new Date(sinceWallMs).toISOString() })
      .filter((e) => e.status < 300 && new RegExp(`/virtualMachineScaleSets/${name}(/|\\?|$)`).test(e.path))
      .length;
  return readFleetRecord(
    lab.stateFile,
    accepted("virtualMachineScaleSets.updateInstances"),
    demoScaleSets,
    sinceWallMs,
    accepted("virtualMachineScaleSets.update"),
  );
}

/**
 * Manual upgrade requests Azure accepted, per scale set, beyond one per started batch and one per
 * batch the rollback's convergence loop decided to upgrade (its `rollback.upgrading` timeline
 * entries): an upgrade reissued after a crash instead of observed.
 */
export function reissuedUpgrades(done: RolloutDetail, fleet: FleetRecord): Record<string, number> {
  return Object.fromEntries(
    done.scaleSets.map((s) => {
      const name = s.id.split("/").pop() ?? s.id;
      const started = s.batches.filter((b) => b.status !== "pending").length;
      const rollback = done.timeline.filter(
        (e) => e.type === "rollback.upgrading" && e.data?.scaleSetId === s.id,
      ).length;
      return [name, (fleet[name]?.acceptedUpgradeRequests ?? 0) - started - rollback];
    }),
  );
}

/**
 * Model writes Azure accepted, per scale set, beyond one forward and (when rolled back) one back:
 * a model write resubmitted after a crash instead of read back first.
 */
export function rewrittenModels(done: RolloutDetail, fleet: FleetRecord): Record<string, number> {
  const perDirection = done.phase === "rolledBack" ? 2 : 1;
  return Object.fromEntries(
    done.scaleSets.map((s) => {
      const name = s.id.split("/").pop() ?? s.id;
      return [name, Math.max(0, (fleet[name]?.acceptedModelWrites ?? 0) - perDirection)];
    }),
  );
}

/** Asserts the invariants and that no upgrade was reissued; answers what the run ended with, for the results table. */
export async function expectEndedLikeAnUninterruptedRun(
  lab: CrashLab,
  done: RolloutDetail,
  expected: ExpectedEnd,
  /** Only what happened from this instant on (a lab that runs several rollouts). */
  sinceWallMs = 0,
): Promise<string> {
  const fleet = await witnessFleet(lab, sinceWallMs);
  expect(crashInvariantViolations(done, fleet, expected)).toEqual([]);
  const reissued = reissuedUpgrades(done, fleet);
  expect(reissued).toEqual(Object.fromEntries(Object.keys(reissued).map((name) => [name, 0])));
  const rewritten = rewrittenModels(done, fleet);
  expect(rewritten).toEqual(Object.fromEntries(Object.keys(rewritten).map((name) => [name, 0])));
  const instances = Object.values(fleet).flatMap((ss) => ss.instances.filter((i) => i.reboots > 0));
  const appeared = Object.values(fleet).flatMap((ss) => ss.instances.filter((i) => i.appeared));
  const settled = expected.phase === "completed" ? expected.target : expected.previous;
  return `${done.phase}; ${instances.length} upgraded instance(s)${appeared.length > 0 ? ` (${appeared.length} appeared during the run)` : ""} all on ${settled}, each rebooted at most once per direction; no manual upgrade reissued, no model write resubmitted; previous versions as recorded; timeline ${done.timeline.length} entries`;
}
