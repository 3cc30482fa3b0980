/**
 * How one scale set's instances are split into batches: a canary batch first, then promotion
 * batches of `batchPercent` of the capacity. Pure and deterministic.
 */
import type { InstanceFacts } from "./fleet.ts";
import type { RolloutSpec } from "./spec.ts";

export interface PlanBatchesInput {
  instances: InstanceFacts[];
  canary: RolloutSpec["strategy"]["canary"];
  batchPercent: number;
  /** The scale set's capacity when the rollout reaches it; percentages are of this. */
  capacity: number;
}

export interface BatchPlan {
  /** Ordered: the canary batch first, then promotion batches. Every batch is non-empty. */
  batches: string[][];
  /** Protected from scale-set actions: a manual upgrade would skip them, so they are reported instead. */
  protectedInstanceIds: string[];
}

/** Instance ids are decimal strings in Uniform scale sets; sort by number, then by text. */
export function compareInstanceIds(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  if (Number.isFinite(na) && Number.isFinite(nb) && na !== nb) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** ceil(percent% of capacity), at least one. The epsilon absorbs float noise such as 0.1 * 30. */
export function percentOf(percent: number, capacity: number): number {
  return Math.max(1, Math.ceil((percent * capacity) / 100 - 1e-9));
}

/** Round-robin across zones (zones in sorted order, ids numerically within a zone). */
function spreadAcrossZones(instances: InstanceFacts[]): string[] {
  const byZone = new Map<string, string[]>();
  for (const i of [...instances].sort((a, b) => compareInstanceIds(a.instanceId, b.instanceId))) {
    const zone = i.zone ?? "";
    const list = byZone.get(zone) ?? [];
    list.push(i.instanceId);
    byZone.set(zone, list);
  }
  const queues = [...byZone.keys()].sort().map((z) => byZone.get(z) ?? []);
  const order: string[] = [];
  for (let round = 0; order.length < instances.length; round++) {
    for (const q of queues) {
      const id = q[round];
      if (id !== undefined) order.push(id);
    }
  }
  return order;
}

export function planBatches(input: PlanBatchesInput): BatchPlan {
  const protectedInstanceIds = input.instances
    .filter((i) => i.protectedFromScaleSetActions)
    .map((i) => i.instanceId)
    .sort(compareInstanceIds);
  const order = spreadAcrossZones(input.instances.filter((i) => !i.protectedFromScaleSetActions));
  const capacity = Math.max(input.capacity, 0);
  const canarySize =
    "instances" in input.canary
      ? Math.max(1, input.canary.instances)
      : percentOf(input.canary.percent, capacity);
  const batchSize = percentOf(input.batchPercent, capacity);
  const batches: string[][] = [];
  let next = 0;
  for (let size = canarySize; next < order.length; size = batchSize) {
    batches.push(order.slice(next, next + size).sort(compareInstanceIds));
    next += size;
  }
  return { batches, protectedInstanceIds };
}
