import { describe, expect, it } from "vitest";
import { effectJobId, outboxEntryFor } from "../../../src/engine/core/outbox.ts";

const now = new Date("2026-11-27T10:00:00.000Z");

describe("outbox entries", () => {
  it("give timers a deadline, so a re-enqueue after a crash keeps it", () => {
    const entry = outboxEntryFor(
      { id: "r3e0", kind: "startTimer", timer: "bake", delaySeconds: 300 },
      3,
      now,
    );
    expect(entry).toMatchObject({ revision: 3, checks: 0, dueAt: "2026-11-27T10:05:00.000Z" });
  });

  it("leave other effects without a deadline", () => {
    expect(outboxEntryFor({ id: "r1e0", kind: "preflight" }, 1, now).dueAt).toBeUndefined();
  });

  it("name jobs deterministically and never with ':' (BullMQ's separator)", () => {
    expect(effectJobId("ro-abc", "r4e1")).toBe("ro-abc.r4e1");
    expect(effectJobId("ro-abc", "odd:id")).toBe("ro-abc.odd_id");
  });
});
