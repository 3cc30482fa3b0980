import { describe, expect, it } from "vitest";
import type { GateResult, GateVerdict } from "../../../src/domain/effects.ts";
import { combineVerdicts } from "../../../src/gates/evaluate-gates.ts";

const result = (verdict: GateVerdict): GateResult => ({
  gate: "instanceHealth",
  name: "instanceHealth",
  verdict,
  summary: verdict,
  measuredAt: "2026-11-27T12:00:00.000Z",
  instanceIds: ["0"],
  evidence: {},
});

describe("combining gate verdicts", () => {
  it("fails when any gate failed, even if another is inconclusive", () => {
    expect(combineVerdicts([result("passed"), result("inconclusive"), result("failed")])).toBe("failed");
  });
  it("is inconclusive when none failed and one is inconclusive", () => {
    expect(combineVerdicts([result("passed"), result("inconclusive")])).toBe("inconclusive");
  });
  it("passes only when every gate passed", () => {
    expect(combineVerdicts([result("passed"), result("passed")])).toBe("passed");
  });
});
