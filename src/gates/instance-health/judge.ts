/**
 * The instanceHealth gate: are the batch's instances back and well? Judged from one listing of
 * the scale set's instances (provisioning, model, power state, Application Health, extension and
 * provisioning errors) against the spec's maximum unhealthy percent.
 */
import type { GateJudgement } from "../../domain/effects.ts";
import type { InstanceFacts } from "../../domain/fleet.ts";
import { isPlatformErrorCode } from "../platform-failures.ts";

export interface InstanceHealthInput {
  /** The instances the gate is about (the batch). */
  instanceIds: string[];
  /** The scale set's instances as listed (may hold more than the batch). */
  instances: InstanceFacts[];
  maxUnhealthyPercent: number;
  measuredAt: string;
}

export interface InstanceHealthFinding {
  instanceId: string;
  /** What is wrong, in words (empty when healthy). */
  problems: string[];
  /** Still coming up: neither healthy nor failed yet. */
  pending: boolean;
  /** Every problem is Azure's (allocation, quota, never came back). */
  platform: boolean;
  provisioningState?: string;
  powerState?: string;
  vmHealth?: string;
  latestModelApplied?: boolean;
  errorCodes: string[];
}

const inProgress = new Set(["creating", "updating", "migrating"]);

export function judgeInstance(instanceId: string, facts: InstanceFacts | undefined): InstanceHealthFinding {
  if (!facts)
    return {
      instanceId,
      problems: ["instance never came back (not in the scale set)"],
      pending: false,
      platform: true,
      errorCodes: [],
    };
  // Problems that point at Azure, at the image, or (state, power, model) at neither by themselves.
  const problems: string[] = [];
  let platformProblems = 0;
  let imageProblems = 0;
  const state = facts.provisioningState.toLowerCase();
  const coming = inProgress.has(state) || facts.vmHealth === "initializing";
  if (!inProgress.has(state) && state !== "succeeded")
    problems.push(`provisioningState ${facts.provisioningState}`);
  for (const code of facts.errorCodes) {
    if (isPlatformErrorCode(code)) {
      problems.push(`${code} (platform failure)`);
      platformProblems++;
    } else {
      problems.push(code);
      imageProblems++;
    }
  }
  if (!inProgress.has(state)) {
    if (!facts.latestModelApplied) problems.push("not on the latest model");
    if (facts.powerState === undefined) problems.push("no power state reported");
    else if (facts.powerState !== "running") problems.push(`power state ${facts.powerState}`);
  }
  if (facts.vmHealth === "unhealthy" || facts.vmHealth === "unknown") {
    problems.push(`Application Health ${facts.vmHealth}`);
    imageProblems++;
  }
  const finding: InstanceHealthFinding = {
    instanceId,
    problems,
    pending: coming && problems.length === 0,
    platform: platformProblems > 0 && imageProblems === 0,
    provisioningState: facts.provisioningState,
    latestModelApplied: facts.latestModelApplied,
    errorCodes: facts.errorCodes,
  };
  if (facts.powerState !== undefined) finding.powerState = facts.powerState;
  if (facts.vmHealth !== undefined) finding.vmHealth = facts.vmHealth;
  return finding;
}

export function judgeInstanceHealth(input: InstanceHealthInput): GateJudgement {
  const byId = new Map(input.instances.map((instance) => [instance.instanceId, instance]));
  const findings = input.instanceIds.map((id) => judgeInstance(id, byId.get(id)));
  const unhealthy = findings.filter((finding) => finding.problems.length > 0);
  const pending = findings.filter((finding) => finding.pending);
  const total = findings.length;
  const unhealthyPercent = total === 0 ? 0 : (unhealthy.length / total) * 100;
  const evidence = {
    total,
    unhealthy: unhealthy.length,
    pending: pending.length,
    unhealthyPercent: Math.round(unhealthyPercent * 100) / 100,
    maxUnhealthyPercent: input.maxUnhealthyPercent,
    platformFailures: unhealthy.filter((finding) => finding.platform).map((finding) => finding.instanceId),
    instances: findings,
  };
  const base = {
    gate: "instanceHealth" as const,
    measuredAt: input.measuredAt,
    instanceIds: input.instanceIds,
    evidence,
  };
  const named = (list: InstanceHealthFinding[]) =>
    list.map((finding) => `${finding.instanceId} (${finding.problems.join(", ")})`).join("; ");
  if (unhealthyPercent > input.maxUnhealthyPercent) {
    const platformFailure = unhealthy.every((finding) => finding.platform);
    const kind = platformFailure ? "platform failure, not the image" : "unhealthy";
    return {
      ...base,
      verdict: "failed",
      summary: `${unhealthy.length} of ${total} instances ${kind} (${evidence.unhealthyPercent}% > ${input.maxUnhealthyPercent}% allowed): ${named(unhealthy)}`,
      platformFailure,
    };
  }
  if (pending.length > 0)
    return {
      ...base,
      verdict: "inconclusive",
      summary: `${pending.length} of ${total} instances still coming up: ${pending.map((finding) => finding.instanceId).join(", ")}`,
    };
  const tolerated = unhealthy.length > 0 ? `; tolerated: ${named(unhealthy)}` : "";
  return {
    ...base,
    verdict: "passed",
    summary: `${total - unhealthy.length} of ${total} instances healthy (max unhealthy ${input.maxUnhealthyPercent}%)${tolerated}`,
  };
}
