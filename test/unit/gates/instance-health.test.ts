import { describe, expect, it } from "vitest";
import type { InstanceFacts } from "../../../src/domain/fleet.ts";
import { judgeInstanceHealth } from "../../../src/gates/instance-health/judge.ts";

const measuredAt = "2026-11-27T12:00:00.000Z";

function instance(instanceId: string, overrides: Partial<InstanceFacts> = {}): InstanceFacts {
  return {
    instanceId,
    name: `web-a_${instanceId}`,
    protectedFromScaleSetActions: false,
    latestModelApplied: true,
    provisioningState: "Succeeded",
    powerState: "running",
    vmHealth: "healthy",
    errorCodes: [],
    ...overrides,
  };
}

describe("instanceHealth gate", () => {
  it("passes when every batch instance is provisioned, on the latest model, running and healthy", () => {
    const result = judgeInstanceHealth({
      instanceIds: ["0", "2"],
      instances: [instance("0"), instance("2"), instance("3", { vmHealth: "unhealthy" })],
      maxUnhealthyPercent: 0,
      measuredAt,
    });
    expect(result.verdict).toBe("passed");
    expect(result.instanceIds).toEqual(["0", "2"]);
    expect(result.evidence).toMatchObject({ total: 2, unhealthy: 0, maxUnhealthyPercent: 0 });
  });

  it("fails on an Application Health unhealthy instance and names it as an image problem", () => {
    const result = judgeInstanceHealth({
      instanceIds: ["0", "2"],
      instances: [instance("0"), instance("2", { vmHealth: "unhealthy" })],
      maxUnhealthyPercent: 0,
      measuredAt,
    });
    expect(result.verdict).toBe("failed");
    expect(result.platformFailure).toBe(false);
    expect(result.summary).toContain("2 (Application Health unhealthy)");
    expect(result.evidence).toMatchObject({ unhealthy: 1, unhealthyPercent: 50 });
  });

  it.each([
    ["not on the latest model", { latestModelApplied: false }],
    ["power state stopped", { powerState: "stopped" }],
    ["provisioningState Failed", { provisioningState: "Failed", errorCodes: ["OSProvisioningTimedOut"] }],
    ["VMExtensionProvisioningError", { errorCodes: ["VMExtensionProvisioningError"] }],
    ["Application Health unknown", { vmHealth: "unknown" as const }],
  ])("counts an instance with %s as unhealthy", (problem, overrides) => {
    const result = judgeInstanceHealth({
      instanceIds: ["0"],
      instances: [instance("0", overrides)],
      maxUnhealthyPercent: 0,
      measuredAt,
    });
    expect(result.verdict).toBe("failed");
    expect(result.summary).toContain(problem);
  });

  it("tolerates unhealthy instances up to maxUnhealthyPercent and records them", () => {
    const result = judgeInstanceHealth({
      instanceIds: ["0", "2", "3", "7"],
      instances: [instance("0"), instance("2"), instance("3"), instance("7", { vmHealth: "unhealthy" })],
      maxUnhealthyPercent: 25,
      measuredAt,
    });
    expect(result.verdict).toBe("passed");
    expect(result.summary).toContain("tolerated: 7");
  });

  it("fails above maxUnhealthyPercent", () => {
    const result = judgeInstanceHealth({
      instanceIds: ["0", "2", "3"],
      instances: [
        instance("0"),
        instance("2", { vmHealth: "unhealthy" }),
        instance("3", { vmHealth: "unhealthy" }),
      ],
      maxUnhealthyPercent: 50,
      measuredAt,
    });
    expect(result.verdict).toBe("failed");
  });

  it("flags AllocationFailed and quota errors as platform failures, not image regressions", () => {
    const result = judgeInstanceHealth({
      instanceIds: ["0", "2"],
      instances: [
        instance("0", {
          provisioningState: "Failed",
          powerState: "deallocated",
          errorCodes: ["AllocationFailed"],
        }),
        instance("2", {
          provisioningState: "Failed",
          errorCodes: ["OperationNotAllowed", "StandardDSv5FamilyQuotaExceeded"],
        }),
      ],
      maxUnhealthyPercent: 0,
      measuredAt,
    });
    expect(result.verdict).toBe("failed");
    expect(result.platformFailure).toBe(true);
    expect(result.summary).toContain("platform failure, not the image");
    expect(result.evidence.platformFailures).toEqual(["0", "2"]);
  });

  it("flags an instance that never came back as a platform failure", () => {
    const result = judgeInstanceHealth({
      instanceIds: ["9"],
      instances: [instance("0")],
      maxUnhealthyPercent: 0,
      measuredAt,
    });
    expect(result.verdict).toBe("failed");
    expect(result.platformFailure).toBe(true);
    expect(result.summary).toContain("never came back");
  });

  it("does not call a failure platform when an image problem is mixed in", () => {
    const result = judgeInstanceHealth({
      instanceIds: ["0", "2"],
      instances: [
        instance("0", { errorCodes: ["AllocationFailed"] }),
        instance("2", { vmHealth: "unhealthy" }),
      ],
      maxUnhealthyPercent: 0,
      measuredAt,
    });
    expect(result.platformFailure).toBe(false);
  });

  it("is inconclusive while an instance is still updating or its health initializing", () => {
    const result = judgeInstanceHealth({
      instanceIds: ["0", "2"],
      instances: [
        instance("0", { provisioningState: "Updating" }),
        instance("2", { vmHealth: "initializing" }),
      ],
      maxUnhealthyPercent: 0,
      measuredAt,
    });
    expect(result.verdict).toBe("inconclusive");
    expect(result.evidence).toMatchObject({ pending: 2 });
  });

  it("does not require Application Health where the extension does not report", () => {
    const { vmHealth: _none, ...withoutExtension } = instance("0");
    const result = judgeInstanceHealth({
      instanceIds: ["0"],
      instances: [withoutExtension],
      maxUnhealthyPercent: 0,
      measuredAt,
    });
    expect(result.verdict).toBe("passed");
  });
});
