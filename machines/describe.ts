/** What people see of a rollout, derived from the persisted snapshot (no clock, no I/O). */
import {
  type RolloutPhase,
  type RolloutView,
  type ScaleSetView,
  terminalPhases,
} from "../src/domain/rollout-view.ts";
import type { ScaleSetProgress } from "./context.ts";
import type { PersistedRollout } from "./decide.ts";
import { unconverged } from "./rollback-runbook.ts";
import { scaleSetPhase } from "./scale-set.chart.ts";

export { scaleSetPhase } from "./scale-set.chart.ts";

/** Least advanced first: the summary shows what the slowest moving scale set is doing. */
const progressOrder: RolloutPhase[] = ["canary", "baking", "promoting"];

/**
 * The summary phase. While scale sets move in parallel: `awaitingApproval` if any of them waits
 * for a person (that needs attention), otherwise the least advanced phase of the moving ones.
 */
export function describePhase(state: PersistedRollout): RolloutPhase {
  if (state.state !== "running") return state.state;
  const phases = state.context.scaleSets.map(scaleSetPhase);
  if (phases.includes("awaitingApproval")) return "awaitingApproval";
  const moving = phases.map((p): RolloutPhase => (p === "updatingModel" ? "canary" : (p as RolloutPhase)));
  return progressOrder.find((p) => moving.includes(p)) ?? "promoting";
}

export function isTerminal(state: PersistedRollout): boolean {
  return terminalPhases.has(describePhase(state));
}

/**
 * Scale sets this rollout holds (invariants 3 and 7): all of its scale sets until it ends; after
 * it ended `failed`, every scale set whose rollback did not converge, until on-call releases them.
 */
export function heldScaleSetIds(state: PersistedRollout): string[] {
  if (state.state === "failed")
    return state.context.released ? [] : unconverged(state.context).map((s) => s.id);
  return isTerminal(state) ? [] : state.context.scaleSets.map((s) => s.id);
}

const ended = new Set(["completed", "rolledBack", "rollbackFailed", "untouched"]);

/** pending: none of its scale sets started; done: all of them ended (or the rollout did); else active. */
function waveStatus(members: ScaleSetProgress[], rolloutEnded: boolean): "pending" | "active" | "done" {
  const started = members.some((s) => s.state !== "waiting" && s.state !== "untouched");
  if (!started) return "pending";
  return rolloutEnded || members.every((s) => ended.has(s.state)) ? "done" : "active";
}

export type RolloutDescription = Omit<RolloutView, "createdAt" | "updatedAt">;

export function describeRollout(state: PersistedRollout): RolloutDescription {
  const ctx = state.context;
  const scaleSets: ScaleSetView[] = ctx.scaleSets.map((ss) => ({
    id: ss.id,
    wave: ss.wave,
    phase: scaleSetPhase(ss),
    ...(ss.previousImage ? { previousImage: ss.previousImage } : {}),
    touchedInstanceIds: [...ss.touchedInstanceIds],
    protectedInstanceIds: [...ss.protectedInstanceIds],
    batches: ss.batches.map((b, index) => ({
      index,
      kind: b.kind,
      instanceIds: [...b.instanceIds],
      status: b.status,
      gateResults: [...b.gateResults],
    })),
  }));
  const terminal = isTerminal(state);
  const waves = ctx.spec.waves.map((w, i) => ({
    name: w.name,
    scaleSetIds: [...w.scaleSets],
    status: waveStatus(
      ctx.scaleSets.filter((s) => s.waveIndex === i),
      terminal,
    ),
  }));
  return {
    id: ctx.rolloutId,
    name: ctx.name,
    phase: describePhase(state),
    ...(ctx.reason ? { reason: ctx.reason } : {}),
    spec: ctx.spec,
    ...(ctx.targetImage && Object.keys(ctx.targetImage).length > 0 ? { targetImage: ctx.targetImage } : {}),
    waves,
    scaleSets,
    findings: [...ctx.findings],
    ...(ctx.window
      ? {
          window: {
            wave: ctx.spec.waves[ctx.window.waveIndex]?.name ?? String(ctx.window.waveIndex),
            status: ctx.window.status,
            ...(ctx.window.closedBy ? { closedBy: [...ctx.window.closedBy] } : {}),
            ...(ctx.window.nextOpenAt ? { nextOpenAt: ctx.window.nextOpenAt } : {}),
            ...(ctx.window.skippedBy ? { skippedBy: { ...ctx.window.skippedBy } } : {}),
          },
        }
      : {}),
    createdBy: ctx.createdBy,
    revision: state.revision,
  };
}
