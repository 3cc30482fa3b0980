import { describe, expect, it } from "vitest";
import { engineKeys } from "../../../src/engine/store/keys.ts";

const scaleSet =
  "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/web-a";

describe("engine keys", () => {
  const keys = engineKeys("{canaryd}");
  const all = [
    keys.rollout("r"),
    keys.outbox("r"),
    keys.timeline("r"),
    keys.lock("r"),
    keys.timelineChannel("r"),
    keys.allRollouts,
    keys.byPhase("canary"),
    keys.active,
    keys.holders,
    keys.scaleSetHistory(scaleSet),
    keys.idempotency("alice", "{odd} key"),
    keys.creationSequence,
    keys.clockOrigin(60),
  ];

  it("all begin with the prefix's hash tag, so on Redis Cluster they share one slot", () => {
    for (const key of all) expect(key.startsWith("{canaryd}:")).toBe(true);
  });

  it("are distinct", () => {
    expect(new Set(all).size).toBe(all.length);
  });

  it("name a scale set case-insensitively, as ARM does", () => {
    expect(keys.scaleSetHistory(scaleSet.toUpperCase())).toBe(keys.scaleSetHistory(scaleSet));
  });

  it("scope idempotency keys to the caller", () => {
    expect(keys.idempotency("alice", "k")).not.toBe(keys.idempotency("bob", "k"));
  });
});
