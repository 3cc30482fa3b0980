import { describe, expect, it } from "vitest";
import {
  exitCodeForPhase,
  exitCodeForStatus,
  exitCodes,
  exitCodesHelp,
} from "../../../src/cli/client/exit-codes.ts";
import type { RolloutPhase } from "../../../src/domain/rollout-view.ts";
import { terminalPhases } from "../../../src/domain/rollout-view.ts";

describe("exit codes", () => {
  it("are the documented contract", () => {
    expect(exitCodes).toEqual({
      completed: 0,
      unexpected: 1,
      usage: 2,
      rolledBack: 3,
      failed: 4,
      timedOut: 5,
      unreachable: 6,
      unauthorized: 7,
      conflict: 8,
      rejected: 9,
    });
    for (const code of Object.values(exitCodes))
      expect(exitCodesHelp).toMatch(new RegExp(`^  ${code}  \\S`, "m"));
  });

  it("map each terminal phase to its own code, and running phases to none", () => {
    const mapped = Object.fromEntries([...terminalPhases].map((p) => [p, exitCodeForPhase(p)]));
    expect(mapped).toEqual({ completed: 0, rolledBack: 3, failed: 4, rejected: 9 });
    for (const phase of ["pending", "canary", "paused", "rollingBack"] as RolloutPhase[]) {
      expect(exitCodeForPhase(phase)).toBeUndefined();
    }
  });

  it("map API refusals: auth 7, conflicts 8, other client errors 2, server errors 1", () => {
    expect([401, 403].map(exitCodeForStatus)).toEqual([7, 7]);
    expect(exitCodeForStatus(409)).toBe(8);
    expect([400, 404, 413, 415].map(exitCodeForStatus)).toEqual([2, 2, 2, 2]);
    expect([429, 500, 503].map(exitCodeForStatus)).toEqual([1, 1, 1]);
  });
});
