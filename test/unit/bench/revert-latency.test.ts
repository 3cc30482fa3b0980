/**
 * The benchmark's failed-gate-to-revert measurement (bench/workloads.ts `revertLatency`), which
 * figure (c) and bench/revert-latency.ts report: the verdict is the failing gate's latest
 * measuredAt, a revert is a scale set's second model write (its first was the rollout's update),
 * and a rollout with no failed gate or no revert measures NaN rather than a number.
 */
import { describe, expect, it } from "vitest";
import { revertLatency } from "../../../bench/workloads.ts";
import type { TimelineEntry } from "../../../src/domain/rollout-view.ts";
import type { RequestLogEntry } from "../../../src/simulator/index.ts";

const t0 = Date.parse("2026-12-07T05:00:00.000Z");
const iso = (ms: number) => new Date(t0 + ms).toISOString();

function entry(type: string, atMs: number, data?: Record<string, unknown>): TimelineEntry {
  return { seq: 0, at: iso(atMs), actor: "engine", type, message: type, ...(data ? { data } : {}) };
}

function write(
  scaleSet: string,
  atMs: number,
  operation = "virtualMachineScaleSets.update",
): RequestLogEntry {
  return {
    method: operation === "virtualMachineScaleSets.update" ? "PATCH" : "GET",
    path: `/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/${scaleSet}`,
    operation,
    status: 200,
    time: iso(atMs),
    simulatedMs: atMs,
    durationMs: 1,
  };
}

const timeline: TimelineEntry[] = [
  entry("gates.evaluated", 100, { verdict: "passed", results: [{ measuredAt: iso(90) }] }),
  // The verdict exists when its last result was measured (1,000 ms), not when the entry was written.
  entry("gates.evaluated", 1_020, {
    verdict: "failed",
    results: [{ measuredAt: iso(980) }, { measuredAt: iso(1_000) }],
  }),
  entry("rollback.started", 1_005),
];

describe("revertLatency", () => {
  it("measures from the failing gate's latest measuredAt to the first and last second model write", () => {
    const log = [
      write("a", 10),
      write("b", 20),
      write("c", 900),
      write("a", 900, "virtualMachineScaleSets.get"), // a read is not a write
      write("b", 1_030), // b's revert: the first
      write("c", 1_050), // c's revert
      write("a", 1_090), // a's revert: the last
      write("b", 1_200), // b's third write is not another revert
    ];
    expect(revertLatency(timeline, log)).toEqual({
      gateAt: t0 + 1_000,
      rollbackAt: t0 + 1_005,
      gateToRollbackStepMs: 5,
      gateToRevertRequestMs: 30,
      gateToLastRevertRequestMs: 90,
      revertedScaleSets: 3,
    });
  });

  it("is NaN without a failed gate or without a revert", () => {
    const passedOnly = timeline.filter((e) => e.data?.verdict !== "failed");
    expect(revertLatency(passedOnly, [write("a", 10), write("a", 20)]).gateToRevertRequestMs).toBeNaN();
    const noRevert = revertLatency(timeline, [write("a", 10), write("b", 20)]);
    expect(noRevert.gateToRevertRequestMs).toBeNaN();
    expect(noRevert.revertedScaleSets).toBe(0);
  });
});
