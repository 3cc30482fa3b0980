/** The plan as `canaryd rollout plan` prints it shows preflight's warnings and a policy exception. */
import { describe, expect, it } from "vitest";
import { formatPlan } from "../../../src/cli/client/format.ts";

describe("formatPlan", () => {
  it("prints each warning and the exception the rollout would go ahead under", () => {
    const text = formatPlan({
      waves: [],
      findings: [],
      warnings: [{ code: "imageEndOfLifeSoon", message: "web 2.0.0 reaches its end of life in 12 day(s)" }],
      exception: { reason: "hotfix", ticket: "INC-77", overrides: [] },
      wouldStart: true,
    });
    expect(text).toContain("warning imageEndOfLifeSoon: web 2.0.0 reaches its end of life in 12 day(s)");
    expect(text).toContain("policy exception (ticket INC-77): hotfix");
    expect(formatPlan({ waves: [], findings: [], wouldStart: true })).not.toContain("warning");
  });
});
