/**
 * The simulator as witness of what happened to the fleet. The request log records paths, not
 * bodies, so per-instance upgrades are read from the simulator's state file instead: every
 * manual upgrade it accepted is an operation listing the instances it actually rebooted (those
 * not already on the model), and each instance keeps the images it booted, in order.
 */
import { readFile } from "node:fs/promises";
import type { RolloutPhase } from "../../src/domain/rollout-view.ts";
import type { SimState } from "../../src/simulator/state.ts";
import type { RolloutDetail } from "./crash-lab.ts";

/** What one instance went through: the versions it booted, oldest first, and its reboots. */
export interface InstanceRecord {
  instanceId: string;
  protected: boolean;
  /** Versions booted, oldest first (the scenario's image first). */
  booted: string[];
  /** Upgrade or reimage operations that rebooted it. */
  reboots: number;
}

export interface ScaleSetRecord {
  name: string;
  modelVersion: string;
  instances: InstanceRecord[];
  /** Manual upgrade requests Azure accepted (2xx) for this scale set. */
  acceptedUpgradeRequests: number;
}

export type FleetRecord = Record<string, ScaleSetRecord>;

const versionOf = (key: string | null | undefined) => (key ? (key.split("/").pop() ?? key) : "down");

/** Reads the fleet from the state file; the simulator writes it within 100 ms of a change. */
export async function readFleetRecord(
  stateFile: string,
  acceptedUpgrades: (scaleSetName: string) => number,
  names: string[],
): Promise<FleetRecord> {
  await new Promise((resolve) => setTimeout(resolve, 300));
  const state = JSON.parse(await readFile(stateFile, "utf8")) as SimState;
  const record: FleetRecord = {};
  for (const name of names) {
    const ss = state.scaleSets.find((s) => s.name === name);
    if (!ss) throw new Error(`scale set ${name} is not in the simulator's state`);
    const operations = state.operations.filter(
      (op) => op.scaleSetId.toLowerCase() === ss.id.toLowerCase() && (op.kind === "upgrade" || op.kind === "reimage"),
    );
    record[name] = {
      name,
      modelVersion: ss.image.exactVersion ?? versionOf(ss.image.id ?? ss.image.version),
      acceptedUpgradeRequests: acceptedUpgrades(name),
      instances: ss.instances.map((instance) => ({
        instanceId: instance.instanceId,
        protected: instance.protectedFromScaleSetActions,
        booted: instance.epochs.filter((e) => e.behaviourKey !== null).map((e) => versionOf(e.behaviourKey)),
        reboots: operations.filter((op) => op.instanceIds.includes(instance.instanceId)).length,
      })),
    };
  }
  return record;
}

/** What an uninterrupted run ends with: the reference a crashed run is compared against. */
export interface RunOutcome {
  phase: RolloutPhase;
  /** Per scale set name: the model's version and each instance's booted versions. */
  fleet: Record<string, { modelVersion: string; booted: Record<string, string[]> }>;
  /** Per scale set name: recorded previous version. */
  previousVersions: Record<string, string | undefined>;
  /** Per scale set name: instances that took the new model, sorted. */
  touched: Record<string, string[]>;
}

export function outcomeOf(view: RolloutDetail, fleet: FleetRecord): RunOutcome {
  const nameOf = (id: string) => id.split("/").pop() ?? id;
  return {
    phase: view.phase,
    fleet: Object.fromEntries(
      Object.values(fleet).map((ss) => [
        ss.name,
        {
          modelVersion: ss.modelVersion,
          booted: Object.fromEntries(ss.instances.map((i) => [i.instanceId, i.booted])),
        },
      ]),
    ),
    previousVersions: Object.fromEntries(
      view.scaleSets.map((s) => [nameOf(s.id), s.previousImage?.exactVersion ?? versionOf(s.previousImage?.id)]),
    ),
    touched: Object.fromEntries(view.scaleSets.map((s) => [nameOf(s.id), [...s.touchedInstanceIds].sort()])),
  };
}

/**
 * Invariants of a rollout of `target` over a fleet on `previous` (the demo runs 1.0.0): each a
 * sentence naming what broke, empty when the run is sound. Independent of any reference run.
 */
export function crashInvariantViolations(
  view: RolloutDetail,
  fleet: FleetRecord,
  expected: { phase: RolloutPhase; target: string; previous: string },
): string[] {
  const problems: string[] = [];
  if (view.phase !== expected.phase) problems.push(`phase ${view.phase} (${view.reason ?? ""}), expected ${expected.phase}`);
  const settled = expected.phase === "completed" ? expected.target : expected.previous;
  for (const scaleSet of view.scaleSets) {
    const name = scaleSet.id.split("/").pop() ?? scaleSet.id;
    const ss = fleet[name];
    if (!ss) {
      problems.push(`${name}: not witnessed`);
      continue;
    }
    const recorded = scaleSet.previousImage?.exactVersion ?? versionOf(scaleSet.previousImage?.id);
    if (scaleSet.previousImage && recorded !== expected.previous)
      problems.push(`${name}: recorded previous version ${recorded}, expected ${expected.previous}`);
    const touched = new Set(scaleSet.touchedInstanceIds);
    if (touched.size > 0 && !scaleSet.previousImage) problems.push(`${name}: touched without a recorded previous version`);
    if (ss.modelVersion !== settled) problems.push(`${name}: model on ${ss.modelVersion}, expected ${settled}`);
    for (const instance of ss.instances) {
      const now = instance.booted.at(-1);
      const where = `${name}_${instance.instanceId}`;
      if (instance.protected) {
        if (instance.reboots !== 0) problems.push(`${where}: protected but rebooted ${instance.reboots} times`);
        continue;
      }
      if (now !== settled) problems.push(`${where}: runs ${now}, expected ${settled}`);
      // Forward once, and back once when rolled back: never a second reboot in one direction.
      const allowed = expected.phase === "completed" ? 1 : touched.has(instance.instanceId) ? 2 : 0;
      if (instance.reboots > allowed)
        problems.push(`${where}: rebooted ${instance.reboots} times (booted ${instance.booted.join(" -> ")}), at most ${allowed}`);
      if (expected.phase === "completed" && instance.reboots < 1) problems.push(`${where}: never upgraded`);
      if (expected.phase === "rolledBack" && touched.has(instance.instanceId) && instance.reboots < 2)
        problems.push(`${where}: took ${expected.target} but was not brought back (${instance.booted.join(" -> ")})`);
    }
  }
  return problems;
}
