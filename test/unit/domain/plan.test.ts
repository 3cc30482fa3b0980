import { describe, expect, it } from "vitest";
import type { InstanceFacts } from "../../../src/domain/fleet.ts";
import { percentOf, planBatches } from "../../../src/domain/plan.ts";

function vm(id: string, zone?: string, protectedFromScaleSetActions = false): InstanceFacts {
  return {
    instanceId: id,
    name: `vm_${id}`,
    ...(zone ? { zone } : {}),
    protectedFromScaleSetActions,
    latestModelApplied: true,
    provisioningState: "Succeeded",
    errorCodes: [],
  };
}

const ten = Array.from({ length: 10 }, (_, i) => vm(String(i)));

describe("planBatches", () => {
  it("puts the canary first, then promotion batches of ceil(batchPercent of capacity)", () => {
    const plan = planBatches({ instances: ten, canary: { instances: 1 }, batchPercent: 30, capacity: 10 });
    expect(plan.batches).toEqual([["0"], ["1", "2", "3"], ["4", "5", "6"], ["7", "8", "9"]]);
  });

  it("rounds a canary percent up to at least one instance", () => {
    expect(
      planBatches({ instances: ten, canary: { percent: 1 }, batchPercent: 100, capacity: 10 }).batches[0],
    ).toEqual(["0"]);
    expect(
      planBatches({ instances: ten, canary: { percent: 15 }, batchPercent: 100, capacity: 10 }).batches[0],
    ).toEqual(["0", "1"]);
  });

  it("does not let float noise add an instance (10% of 30 is 3, not 4)", () => {
    expect(percentOf(10, 30)).toBe(3);
    expect(percentOf(0.1, 5)).toBe(1);
    expect(percentOf(33.4, 3)).toBe(2);
  });

  it("spreads batches across availability zones, round-robin", () => {
    const zoned = [vm("0", "1"), vm("1", "1"), vm("2", "1"), vm("3", "2"), vm("4", "2"), vm("5", "3")];
    const plan = planBatches({ instances: zoned, canary: { instances: 1 }, batchPercent: 50, capacity: 6 });
    // Zone order 1,2,3: 0 3 5 | 1 4 | 2 -> every promotion batch touches as many zones as it can.
    expect(plan.batches).toEqual([["0"], ["1", "3", "5"], ["2", "4"]]);
  });

  it("sorts instance ids numerically, not as text", () => {
    const ids = ["10", "2", "1"].map((id) => vm(id));
    expect(
      planBatches({ instances: ids, canary: { instances: 1 }, batchPercent: 100, capacity: 3 }).batches,
    ).toEqual([["1"], ["2", "10"]]);
  });

  it("reports protected instances instead of batching them", () => {
    const plan = planBatches({
      instances: [vm("0"), vm("1", undefined, true), vm("2")],
      canary: { instances: 1 },
      batchPercent: 50,
      capacity: 3,
    });
    expect(plan.protectedInstanceIds).toEqual(["1"]);
    expect(plan.batches.flat()).toEqual(["0", "2"]);
  });

  it("plans nothing for an empty scale set", () => {
    expect(planBatches({ instances: [], canary: { instances: 1 }, batchPercent: 50, capacity: 0 })).toEqual({
      batches: [],
      protectedInstanceIds: [],
    });
  });
});
