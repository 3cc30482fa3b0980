/**
 * The dry run behind `plan`: runs the preflight effect directly (it only reads) and splits each
 * scale set's instances into the batches the rollout would use. Nothing is stored or changed.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { planBatches } from "../../domain/plan.ts";
import { sameScaleSet } from "../../domain/scale-set-id.ts";
import type { RolloutSpec } from "../../domain/spec.ts";
import type { ExecuteEffect, OutcomeBody } from "../../effects/effect-executor.ts";
import type { Clock } from "../core/clock.ts";
import { CanarydError, type RolloutPlan } from "./rollout-service.ts";

/** Preflight normally answers in one step; a bounded wait covers an executor that polls. */
const maxPreflightSteps = 10;

export const preflightIncomplete = (why: string) => new CanarydError("PREFLIGHT_INCOMPLETE", 502, why);

export async function dryRun(
  spec: RolloutSpec,
  executeEffect: ExecuteEffect,
  clock: Clock,
): Promise<RolloutPlan> {
  const outcome = await runPreflight(spec, executeEffect, clock);
  if (outcome.type === "preflight.refused") {
    return {
      waves: spec.waves.map((w) => ({
        name: w.name,
        scaleSets: w.scaleSets.map((id) => ({ id, batches: [], protectedInstanceIds: [] })),
      })),
      findings: outcome.findings,
      wouldStart: false,
    };
  }
  if (outcome.type !== "preflight.passed") {
    throw preflightIncomplete(`preflight answered ${outcome.type}`);
  }
  return {
    waves: spec.waves.map((w) => ({
      name: w.name,
      scaleSets: w.scaleSets.map((id) => {
        const facts = outcome.scaleSets.find((s) => sameScaleSet(s.id, id));
        if (!facts) return { id, batches: [], protectedInstanceIds: [] };
        const plan = planBatches({
          instances: facts.instances,
          canary: spec.strategy.canary,
          batchPercent: spec.strategy.batchPercent,
          capacity: facts.capacity,
        });
        return {
          id,
          previousImage: facts.imageReference,
          batches: plan.batches.map((instanceIds, i) => ({
            kind: i === 0 ? ("canary" as const) : ("promotion" as const),
            instanceIds,
          })),
          protectedInstanceIds: plan.protectedInstanceIds,
        };
      }),
    })),
    findings: [],
    ...(outcome.notices && outcome.notices.length > 0 ? { warnings: outcome.notices } : {}),
    ...(outcome.exception ? { exception: outcome.exception } : {}),
    wouldStart: true,
  };
}

async function runPreflight(
  spec: RolloutSpec,
  executeEffect: ExecuteEffect,
  clock: Clock,
): Promise<OutcomeBody> {
  let progress: Record<string, unknown> | undefined;
  for (let step = 0; step < maxPreflightSteps; step++) {
    const result = await executeEffect(
      { kind: "preflight", id: "dryrun" },
      { rolloutId: "dryrun", spec, now: () => clock.now(), progress },
    );
    if (result.done) return result.outcome;
    progress = result.progress;
    await sleep(Math.min(result.checkAgainInSeconds * 1000, 1000));
  }
  throw preflightIncomplete(`preflight did not answer within ${maxPreflightSteps} steps`);
}
