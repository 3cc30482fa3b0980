/** A small two-wave fleet and helpers that answer the machine's effects like the engine would. */

import type { RolloutSettings } from "../../../machines/decide.ts";
import type { Effect, GateVerdict, OutcomeEvent } from "../../../src/domain/effects.ts";
import type { InstanceFacts, ScaleSetFacts } from "../../../src/domain/fleet.ts";
import type { ImageReference } from "../../../src/domain/image.ts";
import { type RolloutSpec, type RolloutSpecInput, rolloutSpecSchema } from "../../../src/domain/spec.ts";

const sub =
  "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-demo/providers/Microsoft.Compute";
export const scaleSetA = `${sub}/virtualMachineScaleSets/web-a`;
export const scaleSetB = `${sub}/virtualMachineScaleSets/web-b`;
export const scaleSetC = `${sub}/virtualMachineScaleSets/web-c`;
export const galleryVersion = (v: string) => `${sub}/galleries/demoGallery/images/web/versions/${v}`;

export const previousImage: ImageReference = { id: galleryVersion("1.0.0") };
export const targetImage: ImageReference = { id: galleryVersion("1.1.0") };

export function makeSpec(overrides: Partial<RolloutSpecInput> = {}): RolloutSpec {
  return rolloutSpecSchema.parse({
    name: "web-1.1.0",
    image: { galleryImageVersionId: galleryVersion("1.1.0") },
    waves: [
      { name: "first", scaleSets: [scaleSetA] },
      { name: "rest", scaleSets: [scaleSetB, scaleSetC] },
    ],
    strategy: { canary: { instances: 1 }, batchPercent: 50, bakeSeconds: 60, maxParallelScaleSets: 2 },
    ...overrides,
  });
}

export const settings: RolloutSettings = {
  gateRetrySeconds: 30,
  inconclusiveTimeoutSeconds: 60,
  replicationPollSeconds: 30,
  replicationTimeoutSeconds: 60,
};

export function instance(id: string, zone?: string, extra: Partial<InstanceFacts> = {}): InstanceFacts {
  return {
    instanceId: id,
    name: `vm_${id}`,
    ...(zone ? { zone } : {}),
    protectedFromScaleSetActions: false,
    latestModelApplied: true,
    provisioningState: "Succeeded",
    errorCodes: [],
    ...extra,
  };
}

export function facts(
  id: string,
  instanceCount: number,
  image: ImageReference = previousImage,
): ScaleSetFacts {
  const instances = Array.from({ length: instanceCount }, (_, i) => instance(String(i), String((i % 2) + 1)));
  return {
    id,
    name: id.split("/").pop() ?? id,
    subscriptionId: "00000000-0000-0000-0000-000000000001",
    resourceGroup: "rg-demo",
    location: "westeurope",
    orchestrationMode: "Uniform",
    upgradePolicyMode: "Manual",
    capacity: instanceCount,
    zones: ["1", "2"],
    imageReference: image,
    instances,
  };
}

export const at = "2026-11-27T10:00:00.000Z";

/** The outcome a healthy world reports for an effect. */
export function success(
  effect: Effect,
  fleet: ScaleSetFacts[],
  verdict: GateVerdict = "passed",
): OutcomeEvent {
  const base = { effectId: effect.id, at };
  switch (effect.kind) {
    case "preflight":
      return {
        ...base,
        type: "preflight.passed",
        scaleSets: fleet,
        resolvedImage: targetImage,
        replication: "completed",
      };
    case "checkReplication":
      return { ...base, type: "replication.checked", status: "completed", findings: [] };
    case "checkWindow":
      return { ...base, type: "window.checked", open: true, closedBy: [] };
    case "setModelImage":
      return { ...base, type: "model.updated", scaleSetId: effect.scaleSetId };
    case "upgradeInstances":
      return {
        ...base,
        type: "instances.upgraded",
        scaleSetId: effect.scaleSetId,
        instances: effect.instanceIds.map((id) => instance(id)),
      };
    case "observeScaleSet":
      return { ...base, type: "scaleSet.observed", scaleSetId: effect.scaleSetId, newInstances: [] };
    case "evaluateGates":
      return {
        ...base,
        type: "gates.evaluated",
        scaleSetId: effect.scaleSetId,
        verdict,
        results: effect.gates.map((g) => ({
          gate: g.kind,
          name: g.name ?? g.kind,
          verdict,
          summary: `${g.kind} ${verdict}`,
          measuredAt: at,
          instanceIds: effect.instanceIds,
          evidence: {},
        })),
      };
    case "startTimer":
      return {
        ...base,
        type: "timer.fired",
        timer: effect.timer,
        ...(effect.scaleSetId ? { scaleSetId: effect.scaleSetId } : {}),
      };
    case "revertModel":
      return { ...base, type: "model.reverted", scaleSetId: effect.scaleSetId };
    case "inspectScaleSet": {
      const ss = fleet.find((f) => f.id === effect.scaleSetId);
      return {
        ...base,
        type: "scaleSet.inspected",
        scaleSetId: effect.scaleSetId,
        modelOnImage: true,
        model: effect.image,
        instances: (ss?.instances ?? []).map((i) => ({
          instanceId: i.instanceId,
          onImage: true,
          latestModelApplied: true,
          protectedFromScaleSetActions: i.protectedFromScaleSetActions,
          provisioningState: "Succeeded",
        })),
      };
    }
  }
}
