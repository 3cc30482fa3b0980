/**
 * The effect executor the engine's workers call: one Azure step per call, dispatched on the
 * effect's kind. `startTimer` is not here: the engine runs timers as delayed jobs itself.
 * Failures are thrown as they are (Azure's as AzureAdapterError, with status, Azure code and
 * Retry-After): the engine's retry policy (src/engine/core/retry-policy.ts) decides whether to retry
 * (transient: 429, 5xx, 409, network) or give up at once (permanent: 400, 401/403, 404, 412). The
 * SDK has already retried a 429 after its Retry-After before the error reaches the engine.
 */
import type { AzureAdapters } from "../azure/adapters.ts";
import { runsImage } from "../azure/image-reference.ts";
import type { Config } from "../config/schema.ts";
import type { Effect } from "../domain/effects.ts";
import { imageReferenceFromSpec } from "../domain/image-reference.ts";
import { evaluateGates } from "../gates/evaluate-gates.ts";
import type { GateSettings } from "../gates/provider.ts";
import type { ApprovedVersions } from "../inventory/inventory-service.ts";
import { checkWindow, type WindowSettings } from "../windows/check-window.ts";
import { checkReplication } from "./check-replication.ts";
import type { EffectContext, EffectStep, ExecuteEffect } from "./effect-executor.ts";
import { runPreflight } from "./preflight.ts";
import { createScaleSetLocations } from "./scale-set-locations.ts";
import { stepUpgrade, type UpgradeProgress } from "./upgrade-instances.ts";
import { type ModelWriteProgress, modelHolds, stepModelWrite } from "./write-model-image.ts";

export interface EffectExecutorDeps {
  azure: AzureAdapters;
  config: Config["engine"];
  /** Scale set ids or globs allowed to take a `latest` image version. */
  allowLatestFor: string[];
  /** Told how many metrics calls each gate evaluation made (the daemon feeds /metrics). */
  onMetricsCalls?: (calls: number) => void;
  /** Operator settings of the gate kinds (config `gates`); absent: defaults (no webhook host). */
  gates?: GateSettings;
  /** Production image policy (approvals, end-of-life warnings) preflight applies. */
  policy?: Config["policy"];
  approvals?: ApprovedVersions;
  /** Change windows and freezes (config `windows`, `freezes`); absent: always open. */
  windows?: WindowSettings;
}

/** Thrown for an effect kind the executor does not run (the engine's own `startTimer`). */
export class UnsupportedEffectError extends Error {
  readonly code = "EFFECT_UNSUPPORTED";
  readonly transient = false;
  constructor(kind: string) {
    super(`effect ${kind} is run by the engine, not by the effect executor`);
    this.name = "UnsupportedEffectError";
  }
}

export function createEffectExecutor(deps: EffectExecutorDeps): ExecuteEffect {
  const { azure, config } = deps;
  const locations = createScaleSetLocations(azure.compute);
  const pollSeconds = config.pollIntervalSeconds;
  const modelWriteOptions = {
    pollSeconds,
    rewriteAfterSeconds: Math.max(60, pollSeconds * 12),
    maxWrites: 3,
    timeoutSeconds: config.upgradeTimeoutSeconds,
  };

  return async function executeEffect(effect: Effect, context: EffectContext): Promise<EffectStep> {
    const { signal } = context;
    switch (effect.kind) {
      case "preflight":
        return runPreflight(
          {
            azure,
            allowLatestFor: deps.allowLatestFor,
            locations,
            ...(deps.gates ? { gates: deps.gates } : {}),
            ...(deps.policy ? { policy: deps.policy } : {}),
            ...(deps.approvals ? { approvals: deps.approvals } : {}),
          },
          context.spec,
          context.now(),
          signal,
        );
      case "checkReplication":
        return checkReplication(
          { azure, locations },
          context.targetImage ?? imageReferenceFromSpec(context.spec.image),
          context.spec,
          context.now(),
          signal,
        );
      case "setModelImage":
        return stepModelWrite(
          azure.compute,
          {
            scaleSetId: effect.scaleSetId,
            wanted: effect.target,
            replacing: effect.previous,
            direction: "update",
          },
          modelWriteOptions,
          context.now(),
          context.progress as ModelWriteProgress | undefined,
          signal,
        );
      case "revertModel":
        return stepModelWrite(
          azure.compute,
          {
            scaleSetId: effect.scaleSetId,
            wanted: effect.previous,
            replacing: effect.target,
            direction: "revert",
          },
          modelWriteOptions,
          context.now(),
          context.progress as ModelWriteProgress | undefined,
          signal,
        );
      case "upgradeInstances":
        return stepUpgrade(
          azure.compute,
          { scaleSetId: effect.scaleSetId, instanceIds: effect.instanceIds, image: effect.image },
          { pollSeconds, timeoutSeconds: config.upgradeTimeoutSeconds },
          context.now(),
          context.progress as UpgradeProgress | undefined,
          signal,
        );
      case "observeScaleSet": {
        if (effect.image) {
          const model = (await azure.compute.readModelImage(effect.scaleSetId, signal)).imageReference ?? {};
          if (!modelHolds(model, effect.image))
            return {
              done: true,
              outcome: { type: "model.conflict", scaleSetId: effect.scaleSetId, found: model },
            };
        }
        const known = new Set(effect.knownInstanceIds);
        const instances = await azure.compute.listInstances(effect.scaleSetId, signal);
        return {
          done: true,
          outcome: {
            type: "scaleSet.observed",
            scaleSetId: effect.scaleSetId,
            newInstances: instances.filter((instance) => !known.has(instance.instanceId)),
          },
        };
      }
      case "inspectScaleSet": {
        // The rollback's level-triggered read: the model and every instance that exists now.
        const model = (await azure.compute.readModelImage(effect.scaleSetId, signal)).imageReference;
        const instances = await azure.compute.listInstances(effect.scaleSetId, signal);
        return {
          done: true,
          outcome: {
            type: "scaleSet.inspected",
            scaleSetId: effect.scaleSetId,
            modelOnImage: model !== undefined && modelHolds(model, effect.image),
            ...(model ? { model } : {}),
            instances: instances.map((i) => ({
              instanceId: i.instanceId,
              onImage: runsImage(i.imageReference, effect.image),
              ...(effect.target ? { onTarget: runsImage(i.imageReference, effect.target) } : {}),
              latestModelApplied: i.latestModelApplied,
              protectedFromScaleSetActions: i.protectedFromScaleSetActions,
              provisioningState: i.provisioningState,
            })),
          },
        };
      }
      case "evaluateGates": {
        const evaluation = await evaluateGates({
          azure,
          scaleSetId: effect.scaleSetId,
          location: await locations.locationOf(effect.scaleSetId, signal),
          instanceIds: effect.instanceIds,
          gates: effect.gates,
          maxUnhealthyPercent: effect.maxUnhealthyPercent,
          since: effect.since,
          ...(effect.baselineInstanceIds ? { baselineInstanceIds: effect.baselineInstanceIds } : {}),
          ...(effect.upgradedAt ? { upgradedAt: effect.upgradedAt } : {}),
          ...(effect.final === undefined ? {} : { final: effect.final }),
          ...(effect.requiredCoverageSeconds === undefined
            ? {}
            : { requiredCoverageSeconds: effect.requiredCoverageSeconds }),
          ...(deps.onMetricsCalls ? { onMetricsCalls: deps.onMetricsCalls } : {}),
          ...(deps.gates ? { settings: deps.gates } : {}),
          rolloutId: context.rolloutId,
          effectId: effect.id,
          now: context.now,
          ...(signal ? { signal } : {}),
        });
        return {
          done: true,
          outcome: { type: "gates.evaluated", scaleSetId: effect.scaleSetId, ...evaluation },
        };
      }
      case "checkWindow":
        return { done: true, outcome: checkWindow(effect, context.spec, deps.windows, context.now()) };
      case "startTimer":
        throw new UnsupportedEffectError(effect.kind);
    }
  };
}
