/**
 * A small model checker for the rollout decider. From each reachable state it answers every
 * pending effect with every outcome a world could report (success, refusal, platform failure,
 * each gate verdict, conflicts, a new instance appearing) and tries every user event, keeping a
 * simulated fleet (models and instance images) beside the rollout. States are deduplicated on
 * their content (revision and effect ids aside), so all interleavings are covered once.
 * `check` is called for every transition; it throws to report a violated invariant.
 */

import {
  type Decision,
  decide,
  type PersistedRollout,
  type RolloutSettings,
  startRollout,
} from "../../../machines/decide.ts";
import type { Effect, OutcomeEvent, RolloutEvent, UserEvent } from "../../../src/domain/effects.ts";
import type { ScaleSetFacts } from "../../../src/domain/fleet.ts";
import type { RolloutSpec } from "../../../src/domain/spec.ts";
import { at, instance, previousImage, settings, success, targetImage } from "./fixtures.ts";

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

export const allUserEvents: UserEvent["type"][] = [
  "pause",
  "resume",
  "approve",
  "abort",
  "rollback",
  "release",
  "skipWindow",
];

function imageName(ref: { id?: string }): string {
  return ref.id === targetImage.id ? "target" : ref.id === "someone-else" ? "other" : "prev";
}

const imageOf = (name: string) =>
  name === "target" ? targetImage : name === "other" ? { id: "someone-else" } : previousImage;

/**
 * Changes of the world that no effect asked for, possible at any moment: a scale-out (instance
 * `9` appears, created from the model as it is now) and someone else's model write. Each is a fault.
 */
function worldChanges(world: World): World[] {
  const changes: World[] = [];
  for (const [id, list] of Object.entries(world.instances)) {
    if (!("9" in list)) {
      const w = structuredClone(world);
      const l = w.instances[id];
      if (l) l["9"] = w.models[id] ?? "prev";
      changes.push(w);
    }
    if (world.models[id] !== "other") {
      const w = structuredClone(world);
      w.models[id] = "other";
      changes.push(w);
    }
  }
  return changes;
}

/** Every outcome the world could report for an effect, with the world it leaves; the healthy one first. */
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
  const transient = same({
    ...base,
    type: "effect.failed",
    reason: "503 ServiceUnavailable",
    transient: true,
  });
  const permanent = same({
    ...base,
    type: "effect.failed",
    reason: "403 AuthorizationFailed",
    transient: false,
  });
  const model = "scaleSetId" in effect && effect.scaleSetId ? world.models[effect.scaleSetId] : undefined;
  const conflict = (scaleSetId: string) =>
    same({ ...base, type: "model.conflict", scaleSetId, found: imageOf(model ?? "other") });
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
        permanent,
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
      // Like the executor: read first; someone else's image is a conflict, never overwritten.
      if (model === "other") return [conflict(effect.scaleSetId)];
      return [
        edit(success(effect, fleet), (w) => {
          w.models[effect.scaleSetId] = "target";
        }),
        transient,
      ];
    case "upgradeInstances": {
      // The model guard: the executor reads the model before it upgrades anything.
      if (model !== imageName(effect.image)) return [conflict(effect.scaleSetId)];
      const upgrade = (w: World) => {
        for (const id of effect.instanceIds) {
          const list = w.instances[effect.scaleSetId];
          if (list && id in list) list[id] = w.models[effect.scaleSetId] ?? "prev";
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
        transient,
      ];
    }
    case "observeScaleSet": {
      if (effect.image && model !== imageName(effect.image)) return [conflict(effect.scaleSetId)];
      const list = world.instances[effect.scaleSetId] ?? {};
      const fresh = Object.entries(list).filter(([id]) => !effect.knownInstanceIds.includes(id));
      return [
        same({
          ...base,
          type: "scaleSet.observed",
          scaleSetId: effect.scaleSetId,
          newInstances: fresh.map(([id, image]) =>
            instance(id, undefined, { latestModelApplied: image === model }),
          ),
        }),
        transient,
      ];
    }
    case "inspectScaleSet": {
      const wanted = imageName(effect.image);
      const list = world.instances[effect.scaleSetId] ?? {};
      return [
        same({
          ...base,
          type: "scaleSet.inspected",
          scaleSetId: effect.scaleSetId,
          modelOnImage: model === wanted,
          model: imageOf(model ?? "prev"),
          instances: Object.entries(list).map(([id, image]) => ({
            instanceId: id,
            onImage: image === wanted,
            onTarget: image === "target",
            latestModelApplied: image === model,
            protectedFromScaleSetActions: false,
            provisioningState: "Succeeded",
          })),
        }),
        transient,
        permanent,
      ];
    }
    case "evaluateGates":
      return (["passed", "failed", "inconclusive"] as const).map((v) => same(success(effect, fleet, v)));
    case "checkWindow":
      // Open, closed until a known time, closed with no known opening, or the check failing.
      return [
        same(success(effect, fleet)),
        same({
          ...base,
          type: "window.checked",
          open: false,
          closedBy: [{ kind: "deny", name: "freeze-friday", until: "2026-11-27T11:00:00.000Z" }],
          nextOpenAt: "2026-11-27T11:00:00.000Z",
        }),
        same({
          ...base,
          type: "window.checked",
          open: false,
          closedBy: [{ kind: "outsideAllow", name: "weekdays" }],
        }),
        transient,
      ];
    case "startTimer":
      return [same(success(effect, fleet))];
    case "revertModel":
      if (model === "other") return [conflict(effect.scaleSetId)];
      return [
        edit(success(effect, fleet), (w) => {
          w.models[effect.scaleSetId] = imageName(effect.previous);
        }),
        transient,
        permanent,
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
  const progress = scaleSets.map(
    ({ rollbackResults: _rr, failure: _fl, batches, analysis, rollback, ...ss }) => ({
      ...ss,
      analysis: { ...analysis, streak: analysis.streak !== undefined },
      rollback: { ...rollback, lastError: undefined },
      batches: batches.map(({ gateResults: _g, ...b }) => b),
    }),
  );
  return JSON.stringify([node.state.state, rest, progress, effects, node.world]);
}

export interface ExploreOptions {
  maxStates?: number;
  /** Let the world change by itself (scale-out, someone else's model write), each a fault. Default true. */
  worldChanges?: boolean;
  /** User events tried at every state (default: all of them). */
  userEvents?: UserEvent["type"][];
  /** Outcomes other than the healthy one allowed per path (default 3; 0 = a healthy world). */
  maxFaults?: number;
  /** The machine's settings (default: fixtures' `settings`). */
  settings?: RolloutSettings;
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
  const first = startRollout({
    rolloutId: "r1",
    spec,
    settings: options.settings ?? settings,
    createdBy: "alice",
  });
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
    const live = !["rolledBack", "rejected"].includes(node.state.state);
    if ((options.worldChanges ?? true) && live && node.world.faults < (options.maxFaults ?? 3)) {
      for (const w of worldChanges(node.world)) {
        const to: Node = { state: node.state, world: { ...w, faults: node.world.faults + 1 } };
        const k = key(to);
        if (seen.has(k)) continue;
        seen.add(k);
        stack.push(to);
      }
    }
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
