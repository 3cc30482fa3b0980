/**
 * The crash suites are only as good as their witness: each invariant it checks must catch the
 * fault it names. Synthetic fleets and views, no processes.
 */
import { describe, expect, it } from "vitest";
import type { ScaleSetView } from "../../src/domain/rollout-view.ts";
import { reissuedUpgrades, rewrittenModels } from "../support/crash-expectations.ts";
import type { RolloutDetail } from "../support/crash-lab.ts";
import { galleryVersionId, scaleSetId } from "../support/crash-lab.ts";
import { crashInvariantViolations, type FleetRecord, type InstanceRecord } from "../support/fleet-witness.ts";

const instance = (
  instanceId: string,
  booted: string[],
  extra: Partial<InstanceRecord> = {},
): InstanceRecord => ({
  instanceId,
  protected: false,
  booted,
  reboots: booted.length - 1,
  ...extra,
});

function scaleSetView(
  name: string,
  touched: string[],
  batches: ScaleSetView["batches"],
  previous = "1.0.0",
): ScaleSetView {
  return {
    id: scaleSetId(name),
    wave: "first",
    phase: "completed",
    previousImage: { id: galleryVersionId(previous), exactVersion: previous },
    touchedInstanceIds: touched,
    protectedInstanceIds: [],
    batches,
  };
}

const batch = (index: number, instanceIds: string[], status: ScaleSetView["batches"][number]["status"]) => ({
  index,
  kind: index === 0 ? ("canary" as const) : ("promotion" as const),
  instanceIds,
  status,
  gateResults: [],
});

function view(phase: RolloutDetail["phase"], scaleSets: ScaleSetView[]): RolloutDetail {
  return {
    id: "ro-test",
    name: "web",
    phase,
    spec: {} as RolloutDetail["spec"],
    waves: [{ name: "first", scaleSetIds: [scaleSets[0]?.id ?? ""], status: "done" }],
    scaleSets,
    findings: [],
    createdAt: "",
    updatedAt: "",
    createdBy: "test",
    revision: 1,
    timeline: [],
  };
}

const fleetOf = (modelVersion: string, instances: InstanceRecord[]): FleetRecord => ({
  "web-a": { name: "web-a", modelVersion, instances, acceptedUpgradeRequests: 2 },
});

const completed = view("completed", [
  scaleSetView("web-a", ["0", "1"], [batch(0, ["0"], "passed"), batch(1, ["1"], "passed")]),
]);
const expectCompleted = { phase: "completed" as const, target: "1.1.0", previous: "1.0.0" };

describe("the crash witness", () => {
  it("finds nothing wrong with a clean completed rollout", () => {
    const fleet = fleetOf("1.1.0", [instance("0", ["1.0.0", "1.1.0"]), instance("1", ["1.0.0", "1.1.0"])]);
    expect(crashInvariantViolations(completed, fleet, expectCompleted)).toEqual([]);
  });

  it("reports an instance upgraded twice", () => {
    const fleet = fleetOf("1.1.0", [
      instance("0", ["1.0.0", "1.1.0"], { reboots: 2 }),
      instance("1", ["1.0.0", "1.1.0"]),
    ]);
    expect(crashInvariantViolations(completed, fleet, expectCompleted)).toEqual([
      "web-a_0: rebooted 2 times (booted 1.0.0 -> 1.1.0), at most 1",
    ]);
  });

  it("reports an instance left behind, and a model on the wrong version", () => {
    const fleet = fleetOf("1.0.0", [instance("0", ["1.0.0", "1.1.0"]), instance("1", ["1.0.0"])]);
    expect(crashInvariantViolations(completed, fleet, expectCompleted)).toEqual([
      "web-a: model on 1.0.0, expected 1.1.0",
      "web-a_1: runs 1.0.0, expected 1.1.0",
      "web-a_1: never upgraded",
    ]);
  });

  it("reports a recorded previous version that is not what the fleet ran", () => {
    const overwritten = view("completed", [
      scaleSetView("web-a", ["0"], [batch(0, ["0"], "passed")], "1.1.0"),
    ]);
    const fleet = fleetOf("1.1.0", [instance("0", ["1.0.0", "1.1.0"])]);
    expect(crashInvariantViolations(overwritten, fleet, expectCompleted)).toEqual([
      "web-a: recorded previous version 1.1.0, expected 1.0.0",
    ]);
  });

  it("reports a rollback that moved beyond the canary or did not bring an instance back", () => {
    const rolledBack = view("rolledBack", [
      scaleSetView("web-a", ["0", "1"], [batch(0, ["0"], "failed"), batch(1, ["1"], "upgrading")]),
    ]);
    const fleet = fleetOf("1.0.0", [
      instance("0", ["1.0.0", "1.2.0", "1.0.0"]),
      instance("1", ["1.0.0", "1.2.0"]),
    ]);
    expect(
      crashInvariantViolations(rolledBack, fleet, {
        phase: "rolledBack",
        target: "1.2.0",
        previous: "1.0.0",
      }),
    ).toEqual([
      "web-a: 1 took 1.2.0 beyond the first wave's canaries",
      "web-a: a promotion batch started although a canary failed",
      "web-a_1: runs 1.2.0, expected 1.0.0",
      "web-a_1: took 1.2.0 but was not brought back (1.0.0 -> 1.2.0)",
    ]);
  });

  it("reports a phase other than an uninterrupted run's", () => {
    const failed = { ...completed, phase: "failed" as const, reason: "rollback could not finish" };
    const fleet = fleetOf("1.1.0", [instance("0", ["1.0.0", "1.1.0"]), instance("1", ["1.0.0", "1.1.0"])]);
    expect(crashInvariantViolations(failed, fleet, expectCompleted)).toEqual([
      "phase failed (rollback could not finish), expected completed",
    ]);
  });
});

describe("the crash witness, for instances that appeared during the run", () => {
  const rolledBack = view("rolledBack", [scaleSetView("web-a", ["0"], [batch(0, ["0"], "failed")])]);
  const expectRolledBack = { phase: "rolledBack" as const, target: "1.2.0", previous: "1.0.0" };

  it("accepts one that appeared on the target and was brought back once", () => {
    const fleet = fleetOf("1.0.0", [
      instance("0", ["1.0.0", "1.2.0", "1.0.0"]),
      instance("10", ["1.2.0", "1.0.0"], { appeared: true }),
    ]);
    expect(crashInvariantViolations(rolledBack, fleet, expectRolledBack)).toEqual([]);
  });

  it("reports one that appeared on the target and was left there, or brought back twice", () => {
    const fleet = fleetOf("1.0.0", [
      instance("0", ["1.0.0", "1.2.0", "1.0.0"]),
      instance("10", ["1.2.0"], { appeared: true }),
      instance("11", ["1.2.0", "1.0.0"], { appeared: true, reboots: 2 }),
    ]);
    expect(crashInvariantViolations(rolledBack, fleet, expectRolledBack)).toEqual([
      "web-a_10: runs 1.2.0, expected 1.0.0",
      "web-a_11: rebooted 2 times (booted 1.2.0 -> 1.0.0), at most 1",
    ]);
  });

  it("reports one that appeared on the previous version and was rebooted by a rollback", () => {
    const fleet = fleetOf("1.0.0", [
      instance("0", ["1.0.0", "1.2.0", "1.0.0"]),
      instance("10", ["1.0.0"], { appeared: true, reboots: 1 }),
    ]);
    expect(crashInvariantViolations(rolledBack, fleet, expectRolledBack)).toEqual([
      "web-a_10: rebooted 1 times (booted 1.0.0), at most 0",
    ]);
  });

  it("accepts one created on the target during a completed rollout without an upgrade", () => {
    const fleet = fleetOf("1.1.0", [
      instance("0", ["1.0.0", "1.1.0"]),
      instance("1", ["1.0.0", "1.1.0"]),
      instance("10", ["1.1.0"], { appeared: true }),
    ]);
    expect(crashInvariantViolations(completed, fleet, expectCompleted)).toEqual([]);
  });
});

describe("the Azure writes a crashed run may not repeat", () => {
  const rolledBack = {
    ...view("rolledBack", [scaleSetView("web-a", ["0"], [batch(0, ["0"], "failed")])]),
    timeline: [
      {
        seq: 1,
        at: "",
        actor: "canaryd",
        type: "rollback.upgrading",
        message: "",
        data: { scaleSetId: scaleSetId("web-a") },
      },
    ],
  };
  const writes = (upgrades: number, models: number): FleetRecord => ({
    "web-a": {
      name: "web-a",
      modelVersion: "1.0.0",
      instances: [],
      acceptedUpgradeRequests: upgrades,
      acceptedModelWrites: models,
    },
  });

  it("allows one upgrade per started batch and per batch the rollback loop upgraded, one model write per direction", () => {
    expect(reissuedUpgrades(rolledBack, writes(2, 2))).toEqual({ "web-a": 0 });
    expect(rewrittenModels(rolledBack, writes(2, 2))).toEqual({ "web-a": 0 });
  });

  it("counts an upgrade reissued and a model write resubmitted", () => {
    expect(reissuedUpgrades(rolledBack, writes(3, 3))).toEqual({ "web-a": 1 });
    expect(rewrittenModels(rolledBack, writes(3, 3))).toEqual({ "web-a": 1 });
    expect(rewrittenModels(completed, writes(1, 2))).toEqual({ "web-a": 1 });
  });
});
