/** The rollout machine (machines/) behind the engine's Decider seam, with settings from configuration. */

import {
  canApply,
  decide,
  type PersistedRollout,
  type RolloutSettings,
  rolloutSchemaVersion,
  startRollout,
} from "../../../machines/decide.ts";
import { describeRollout, heldScaleSetIds, isTerminal } from "../../../machines/describe.ts";
import { decodeSnapshot, encodeSnapshot } from "../../../machines/snapshot-codec.ts";
import type { Config } from "../../config/schema.ts";
import { type WindowSettings, windowsConfigured } from "../../windows/check-window.ts";
import type { Decider } from "./decider.ts";

export type { PersistedRollout } from "../../../machines/decide.ts";

/** `windows`: configuration's change windows and freezes; with any, each wave checks its window. */
export function rolloutSettings(engine: Config["engine"], windows?: WindowSettings): RolloutSettings {
  return {
    gateRetrySeconds: engine.gateRetrySeconds,
    inconclusiveTimeoutSeconds: engine.inconclusiveTimeoutSeconds,
    replicationPollSeconds: engine.replicationPollSeconds,
    replicationTimeoutSeconds: engine.replicationTimeoutSeconds,
    maxParallelScaleSets: engine.maxParallelScaleSets,
    rollbackPersistSeconds: engine.rollbackPersistSeconds,
    rollbackRetrySeconds: engine.rollbackRetrySeconds,
    ...(windows && windowsConfigured(windows) ? { changeWindows: true } : {}),
  };
}

/**
 * `describe` walks every scale set and batch, and the step, every effect job and every API read
 * ask for it. A snapshot is never mutated once decided or loaded (the store shares it from its
 * cache, store/rollout-store.ts), so its description is computed once per snapshot object and shared:
 * frozen at the top, and callers must not change what it holds.
 */
function memoizedDescribe(): (state: PersistedRollout) => ReturnType<typeof describeRollout> {
  const described = new WeakMap<PersistedRollout, ReturnType<typeof describeRollout>>();
  return (state) => {
    let view = described.get(state);
    if (!view) {
      view = Object.freeze(describeRollout(state));
      described.set(state, view);
    }
    return view;
  };
}

/**
 * `canApply` restores the machine and evaluates its guards; every `GET /v1/rollouts/{id}` asks it
 * for each of the seven actions. Its answer depends only on the snapshot, which never changes,
 * so it is computed once per snapshot and action.
 */
function memoizedCanApply(): Decider<PersistedRollout>["canApply"] {
  const checked = new WeakMap<PersistedRollout, Map<string, ReturnType<typeof canApply>>>();
  return (state, action) => {
    let answers = checked.get(state);
    if (!answers) {
      answers = new Map();
      checked.set(state, answers);
    }
    let answer = answers.get(action);
    if (!answer) {
      answer = canApply(state, action);
      answers.set(action, answer);
    }
    return answer;
  };
}

export function machineDecider(settings: RolloutSettings): Decider<PersistedRollout> {
  return {
    schemaVersion: rolloutSchemaVersion,
    codec: { encode: encodeSnapshot, decode: decodeSnapshot },
    startRollout: (input) => startRollout({ ...input, settings }),
    decide,
    canApply: memoizedCanApply(),
    describe: memoizedDescribe(),
    isTerminal,
    isPending: (state, effectId) => effectId in state.context.pending,
    pendingEffectIds: (state) => Object.keys(state.context.pending),
    heldScaleSetIds,
  };
}
