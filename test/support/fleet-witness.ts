/**
 * The simulator as witness of what happened to the fleet. The request log records paths, not
 * bodies, so per-instance upgrades are read from the simulator's state file instead: every
 * manual upgrade it accepted is an operation listing the instances it actually rebooted (those
 * not already on the model), and each instance keeps the images it booted, in order. Every
 * instance that exists is witnessed, also one that appeared during the run (a scale-out, a repair):
 * it must end where the rollout's end says, like the planned ones.
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
  /** Created after the witnessed run began (scale-out, repair): `booted[0]` is what it was created on. */
  appeared?: boolean;
}

export interface ScaleSetRecord {
  name: string;
  modelVersion: string;
  instances: InstanceRecord[];
  /** Manual upgrade requests Azure accepted (2xx) for this scale set. */
  acceptedUpgradeRequests: number;
  /** Model writes (PATCH of the scale set) Azure accepted (2xx) for this scale set. */
  acceptedModelWrites?: number;
}

export type FleetRecord = Record<string, ScaleSetRecord>;

const nameOf = (id: string) => id.split("/").pop() ?? id;
const versionOf = (key: string | null | undefined) => (key ? (key.split("/").pop() ?? key) : "down");

/** Reads the fleet from the state file; the simulator writes it within 100 ms of a change. */
export async function readFleetRecord(
  stateFile: string,
  acceptedUpgrades: (scaleSetName: string) => number,
  names: string[],
  /** Only what happened from this wall-clock instant on (the version running then comes first). */
  sinceWallMs = 0,
  acceptedModelWrites?: (scaleSetName: string) => number,
): Promise<FleetRecord> {
  await new Promise((resolve) => setTimeout(resolve, 300));
  const state = JSON.parse(await readFile(stateFile, "utf8")) as SimState;
  const record: FleetRecord = {};
  for (const name of names) {
    const ss = state.scaleSets.find((s) => s.name === name);
    if (!ss) throw new Error(`scale set ${name} is not in the simulator's state`);
    const operations = state.operations.filter(
      (op) =>
        op.scaleSetId.toLowerCase() === ss.id.toLowerCase() &&
        (op.kind === "upgrade" || op.kind === "reimage") &&
        op.startWallMs >= sinceWallMs,
    );
    record[name] = {
      name,
      modelVersion: ss.image.exactVersion ?? versionOf(ss.image.id ?? ss.image.version),
      acceptedUpgradeRequests: acceptedUpgrades(name),
      ...(acceptedModelWrites ? { acceptedModelWrites: acceptedModelWrites(name) } : {}),
      instances: ss.instances.map((instance) => ({
        instanceId: instance.instanceId,
        protected: instance.protectedFromScaleSetActions,
        booted: bootedSince(instance.epochs, sinceWallMs),
        reboots: operations.filter((op) => op.instanceIds.includes(instance.instanceId)).length,
        ...(sinceWallMs > 0 && (instance.epochs[0]?.fromWallMs ?? 0) >= sinceWallMs
          ? { appeared: true }
          : {}),
      })),
    };
  }
  return record;
}

function bootedSince(
  epochs: SimState["scaleSets"][number]["instances"][number]["epochs"],
  sinceWallMs: number,
) {
  const up = epochs.filter((e) => e.behaviourKey !== null);
  const before = up.filter((e) => e.fromWallMs < sinceWallMs).at(-1);
  return [...(before ? [before] : []), ...up.filter((e) => e.fromWallMs >= sinceWallMs)].map((e) =>
    versionOf(e.behaviourKey),
  );
}

/**
 * Invariants of a rollout of `target` over a fleet on `previous` (the demo runs 1.0.0): each a
 * sentence naming what broke, empty when the run is sound. Independent of any reference run.
 */
export function crashInvariantViolations(
  view: RolloutDetail,
  fleet: FleetRecord,
  expected: {
    phase: RolloutPhase;
    target: string;
    /** The version every scale set ran before, or per scale set name. */
    previous: string | Record<string, string>;
  },
): string[] {
  const problems: string[] = [];
  if (view.phase !== expected.phase)
    problems.push(`phase ${view.phase} (${view.reason ?? ""}), expected ${expected.phase}`);
  const inSpec = new Set(view.scaleSets.map((s) => nameOf(s.id)));
  for (const ss of Object.values(fleet)) {
    if (inSpec.has(ss.name)) continue;
    for (const instance of ss.instances)
      if (instance.reboots > 0)
        problems.push(`${ss.name}_${instance.instanceId}: not in the rollout but rebooted`);
  }
  if (expected.phase === "rolledBack") {
    // An uninterrupted run of a bad version stops at the canaries of the first wave (its scale
    // sets start in parallel): nothing beyond a canary batch, nothing of a later wave.
    const firstWave = new Set(view.waves[0]?.scaleSetIds ?? []);
    for (const scaleSet of view.scaleSets) {
      const canary = new Set(scaleSet.batches[0]?.instanceIds ?? []);
      const beyond = scaleSet.touchedInstanceIds.filter(
        (id) => !firstWave.has(scaleSet.id) || !canary.has(id),
      );
      if (beyond.length > 0)
        problems.push(
          `${nameOf(scaleSet.id)}: ${beyond.join(",")} took ${expected.target} beyond the first wave's canaries`,
        );
      if (scaleSet.batches.slice(1).some((b) => b.status !== "pending"))
        problems.push(`${nameOf(scaleSet.id)}: a promotion batch started although a canary failed`);
    }
  }
  for (const scaleSet of view.scaleSets) {
    const name = nameOf(scaleSet.id);
    const ss = fleet[name];
    if (!ss) {
      problems.push(`${name}: not witnessed`);
      continue;
    }
    const previous = typeof expected.previous === "string" ? expected.previous : expected.previous[name];
    const settled = expected.phase === "completed" ? expected.target : previous;
    const recorded = scaleSet.previousImage?.exactVersion ?? versionOf(scaleSet.previousImage?.id);
    if (scaleSet.previousImage && recorded !== previous)
      problems.push(`${name}: recorded previous version ${recorded}, expected ${previous}`);
    const touched = new Set(scaleSet.touchedInstanceIds);
    if (touched.size > 0 && !scaleSet.previousImage)
      problems.push(`${name}: touched without a recorded previous version`);
    if (ss.modelVersion !== settled)
      problems.push(`${name}: model on ${ss.modelVersion}, expected ${settled}`);
    for (const instance of ss.instances) {
      const now = instance.booted.at(-1);
      const where = `${name}_${instance.instanceId}`;
      if (instance.protected) {
        if (instance.reboots !== 0)
          problems.push(`${where}: protected but rebooted ${instance.reboots} times`);
        continue;
      }
      if (now !== settled) problems.push(`${where}: runs ${now}, expected ${settled}`);
      // Forward once, and back once when rolled back: never a second reboot in one direction. An
      // instance that appeared during the run needs one reboot less when created on its end's
      // version, and a rollback owes one created on anything else exactly one (back).
      const createdOn = instance.appeared ? instance.booted[0] : undefined;
      const needed =
        expected.phase === "completed"
          ? createdOn === settled
            ? 0
            : 1
          : touched.has(instance.instanceId)
            ? 2
            : createdOn !== undefined && createdOn !== settled
              ? 1
              : 0;
      if (instance.reboots > needed)
        problems.push(
          `${where}: rebooted ${instance.reboots} times (booted ${instance.booted.join(" -> ")}), at most ${needed}`,
        );
      if (expected.phase === "completed" && instance.reboots < needed)
        problems.push(`${where}: never upgraded`);
      if (expected.phase === "rolledBack" && touched.has(instance.instanceId) && instance.reboots < 2)
        problems.push(
          `${where}: took ${expected.target} but was not brought back (${instance.booted.join(" -> ")})`,
        );
    }
  }
  return problems;
}
