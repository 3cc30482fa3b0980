/**
 * A small model checker for the rollout decider. From each reachable state it answers every
 * pending effect with every outcome a world could report (success, refusal, platform failure,
 * each gate verdict, conflicts, a new instance appearing) and tries every user event, keeping a
 * simulated fleet (models and instance images) beside the rollout. States are deduplicated on
 * their content (revision and effect ids aside), so all interleavings are covered once.
 * `check` is called for every transition; it throws to report a violated invariant.
 */

import { type Decision, decide, type PersistedRollout, startRollout } from "../../../machines/decide.ts";
import type { Effect, OutcomeEvent, RolloutEvent, UserEvent } from "../../../src/domain/effects.ts";
import type { ScaleSetFacts } from "../../../src/domain/fleet.ts";
import type { RolloutSpec } from "../../../src/domain/spec.ts";
import { at, instance, settings, success, targetImage } from "./fixtures.ts";

/** Image names in the simulated fleet: `prev`, `target`, or `other` (someone else's write). */
export interface World {
  /** Outcomes other than the healthy one so far on this path (bounded by `maxFaults`). */
  faults: number;
  models: Record<string, string>;
  instances: Record<string, Record<string, string>>;
}

export interface Node {
  state: PersistedRollout;
  world: World;
}

export interface Transition {
  from: Node;
  event: RolloutEvent;
  decision: Decision;
  to: Node;
}

export const allUserEvents: UserEvent["type"][] = ["pause", "resume", "approve", "abort", "rollback"];

function imageName(ref: { id?: string }): string {
  return ref.id === targetImage.id ? "target" : "prev";
}

/** Every outcome the world could report for an effect, with the world it leaves. */
function outcomes(
  effect: Effect,
  world: World,
  fleet: ScaleSetFacts[],
): { event: OutcomeEvent; world: World }[] {
  const base = { effectId: effect.id, at };
  const same = (event: OutcomeEvent) => ({ event, world });
  const edit = (event: OutcomeEvent, fn: (w: World) => void) => {
    const w = structuredClone(world);
    fn(w);
    return { event, world: w };
  };
  const failed = same({ ...base, type: "effect.failed", reason: "gave up after retries" });
  switch (effect.kind) {
    case "preflight":
      return [
        same(success(effect, fleet)),
        same({
          ...base,
          type: "preflight.passed",
          scaleSets: fleet,
          resolvedImage: targetImage,
          replication: "replicating",
        }),
        same({
          ...base,
          type: "preflight.refused",
          findings: [{ code: "UpgradePolicyAutomatic", message: "web-b: Automatic" }],
        }),
        failed,
      ];
    case "checkReplication":
      return [
        same(success(effect, fleet)),
        same({ ...base, type: "replication.checked", status: "replicating", findings: [] }),
        same({
          ...base,
          type: "replication.checked",
          status: "failed",
          findings: [{ region: "northeurope", code: "ReplicationFailed", message: "failed in northeurope" }],
        }),
      ];
    case "setModelImage":
      return [
        edit(success(effect, fleet), (w) => {
          w.models[effect.scaleSetId] = "target";
        }),
        edit(
          { ...base, type: "model.conflict", scaleSetId: effect.scaleSetId, found: { id: "someone-else" } },
          (w) => {
            w.models[effect.scaleSetId] = "other";
          },
        ),
        failed,
      ];
    case "upgradeInstances": {
      const upgrade = (w: World) => {
        for (const id of effect.instanceIds) {
          const list = w.instances[effect.scaleSetId];
          if (list) list[id] = w.models[effect.scaleSetId] ?? "prev";
        }
      };
      return [
        edit(success(effect, fleet), upgrade),
        same({
          ...base,
          type: "instances.upgradeFailed",
          scaleSetId: effect.scaleSetId,
          reason: "AllocationFailed",
          platformFailure: true,
        }),
      ];
    }
    case "observeScaleSet": {
      const list = world.instances[effect.scaleSetId] ?? {};
      const options = [same(success(effect, fleet))];
      // One scale-out per scale set: instance 9 appears running the current model.
      if (!("9" in list)) {
        options.push(
          edit(
            {
              ...base,
              type: "scaleSet.observed",
              scaleSetId: effect.scaleSetId,
              newInstances: [instance("9")],
            },
            (w) => {
              const l = w.instances[effect.scaleSetId];
              if (l) l["9"] = w.models[effect.scaleSetId] ?? "prev";
            },
          ),
        );
      }
      return options;
    }
    case "evaluateGates":
      return (["passed", "failed", "inconclusive"] as const).map((v) => same(success(effect, fleet, v)));
    case "startTimer":
      return [same(success(effect, fleet))];
    case "revertModel":
      return [
        edit(success(effect, fleet), (w) => {
          w.models[effect.scaleSetId] = imageName(effect.previous);
        }),
        same({
          ...base,
          type: "model.conflict",
          scaleSetId: effect.scaleSetId,
          found: { id: "someone-else" },
        }),
        failed,
      ];
  }
}

/**
 * The content of a state that decides its future: equal keys mean equal futures. Revision and
 * effect ids are renamed away; records of the past (gate evidence, reasons, findings) are left
 * out because no decision reads them.
 */
function key(node: Node): string {
  const {
    revision: _r,
    effectSeq: _s,
    pending,
    approvalTimerEffectId: _a,
    reason: _reason,
    findings: _f,
    scaleSets,
    ...rest
  } = node.state.context;
  const effects = Object.values(pending)
    .map(({ id: _id, ...e }) => JSON.stringify(e))
    .sort();
  const progress = scaleSets.map(({ rollbackResults: _rr, failure: _fl, batches, ...ss }) => ({
    ...ss,
    batches: batches.map(({ gateResults: _g, ...b }) => b),
  }));
  return JSON.stringify([node.state.state, rest, progress, effects, node.world]);
}

export interface ExploreOptions {
  maxStates?: number;
  /** User events tried at every state (default: all five). */
  userEvents?: UserEvent["type"][];
  /** Outcomes other than the healthy one allowed per path (default 3; 0 = a healthy world). */
  maxFaults?: number;
}

export interface ExploreResult {
  states: number;
  /** States with no pending effect, by machine state (a person would have to act, or it ended). */
  transitions: number;
  terminal: Map<string, number>;
}

export function explore(
  spec: RolloutSpec,
  fleet: ScaleSetFacts[],
  check: (t: Transition) => void,
  options: ExploreOptions = {},
): ExploreResult {
  const maxStates = options.maxStates ?? 200_000;
  const world: World = { faults: 0, models: {}, instances: {} };
  for (const f of fleet) {
    world.models[f.id] = "prev";
    world.instances[f.id] = Object.fromEntries(f.instances.map((i) => [i.instanceId, "prev"]));
  }
  const first = startRollout({ rolloutId: "r1", spec, settings, createdBy: "alice" });
  const start: Node = { state: first.state, world };
  const seen = new Set<string>([key(start)]);
  const stack: Node[] = [start];
  const terminal = new Map<string, number>();
  let transitions = 0;
  while (stack.length > 0) {
    const node = stack.pop() as Node;
    const moves: { event: RolloutEvent; world: World }[] = [];
    for (const effect of Object.values(node.state.context.pending)) {
      const [healthy, ...faults] = outcomes(effect, node.world, fleet);
      if (healthy) moves.push(healthy);
      if (node.world.faults < (options.maxFaults ?? 3)) {
        for (const f of faults) moves.push({ ...f, world: { ...f.world, faults: node.world.faults + 1 } });
      }
    }
    if (moves.length === 0) terminal.set(node.state.state, (terminal.get(node.state.state) ?? 0) + 1);
    for (const type of options.userEvents ?? allUserEvents) {
      moves.push({ event: { type, actor: { id: "bob" }, reason: "test", at }, world: node.world });
    }
    for (const move of moves) {
      const decision = decide(node.state, move.event);
      const to: Node = { state: decision.state, world: decision.ignored ? node.world : move.world };
      transitions += 1;
      check({ from: node, event: move.event, decision, to });
      if (decision.ignored) continue;
      const k = key(to);
      if (seen.has(k)) continue;
      seen.add(k);
      if (seen.size > maxStates) throw new Error(`state space larger than ${maxStates}`);
      stack.push(to);
    }
  }
  return { states: seen.size, transitions, terminal };
}
