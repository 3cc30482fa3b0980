/** Runs an effect the way the engine does: step after step, handing back progress, until done. */

import type { Config } from "../../../src/config/schema.ts";
import type { Effect, EffectRequest } from "../../../src/domain/effects.ts";
import { type RolloutSpec, type RolloutSpecInput, rolloutSpecSchema } from "../../../src/domain/spec.ts";
import type {
  EffectContext,
  EffectStep,
  ExecuteEffect,
  OutcomeBody,
} from "../../../src/effects/effect-executor.ts";
import { defaultConfig } from "../../support/default-config.ts";

export const engineConfig: Config["engine"] = {
  ...defaultConfig.engine,
  workerConcurrency: 4,
  pollIntervalSeconds: 0.05,
  gateRetrySeconds: 0.05,
  inconclusiveTimeoutSeconds: 10,
  replicationPollSeconds: 0.05,
  replicationTimeoutSeconds: 10,
  upgradeTimeoutSeconds: 30,
  effectAttempts: 3,
};

export function spec(
  input: Partial<RolloutSpecInput> & Pick<RolloutSpecInput, "image" | "waves">,
): RolloutSpec {
  return rolloutSpecSchema.parse({ name: "test", ...input });
}

let counter = 0;
export function effect(request: EffectRequest): Effect {
  counter += 1;
  return { ...request, id: `e${counter}` } as Effect;
}

export interface Driven {
  outcome: OutcomeBody;
  steps: EffectStep[];
}

export async function drive(
  execute: ExecuteEffect,
  request: EffectRequest,
  context: Omit<EffectContext, "now" | "rolloutId" | "progress"> & {
    now?: () => Date;
    progress?: Record<string, unknown>;
  },
  maxSteps = 2000,
): Promise<Driven> {
  const steps: EffectStep[] = [];
  let progress = context.progress;
  const toRun = effect(request);
  for (let index = 0; index < maxSteps; index++) {
    const step = await execute(toRun, {
      rolloutId: "r-test",
      now: () => new Date(),
      ...context,
      ...(progress ? { progress } : {}),
    });
    steps.push(step);
    if (step.done) return { outcome: step.outcome, steps };
    progress = step.progress;
    await new Promise((resolve) => setTimeout(resolve, step.checkAgainInSeconds * 1000));
  }
  throw new Error(`effect ${request.kind} not done after ${maxSteps} steps`);
}
