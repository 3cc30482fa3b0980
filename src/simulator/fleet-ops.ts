/**
 * What happens to a scale set besides the caller's own requests, for the "rollback that always
 * converges" cases: scale-out, automatic repair (`repairAction: Replace`), another actor's model
 * write; and the scale set's `etag` with the `If-Match` / `If-None-Match` preconditions of PUT/PATCH.
 *
 * Invariants: instance ids only grow (a new instance never reuses an id, as in a Uniform scale
 * set); a new instance is built from the scale set's model as it is now; the etag changes on every
 * write to the scale set resource (model writes, capacity changes), never on instance changes.
 * Everything lives in the fleet state, so with a state file a restart keeps it (callers mark the
 * state dirty through `ctx.changed()`).
 */
import { randomUUID } from "node:crypto";
import { ArmError } from "./arm-errors.ts";
import type { Fleet } from "./fleet.ts";
import type { SimContext, SimRequest } from "./router.ts";
import { parseImageReference } from "./routes/compute-scale-sets.ts";
import type { ScenarioImage } from "./scenario.ts";
import type { InstanceState, ScaleSetState, WireImageReference } from "./state.ts";
import { scenarioImageToWire } from "./state.ts";

/** A scale set by ARM id, or by name (the first with that name, case-insensitive); 404 when none. */
export function scaleSetByNameOrId(fleet: Fleet, nameOrId: string): ScaleSetState {
  const wanted = nameOrId.toLowerCase();
  const ss = fleet.scaleSet(nameOrId) ?? fleet.state.scaleSets.find((s) => s.name.toLowerCase() === wanted);
  if (!ss) throw new ArmError(404, "NotFound", `No simulated scale set '${nameOrId}'.`);
  return ss;
}

// --- etag and preconditions -------------------------------------------------------------------

/** The wire etag: a quoted counter, as Compute sends (`"1"`, `"2"`, …). */
export function etagOf(ss: ScaleSetState): string {
  return `"${ss.etagVersion ?? 1}"`;
}

export function bumpEtag(ss: ScaleSetState): void {
  ss.etagVersion = (ss.etagVersion ?? 1) + 1;
}

function header(req: SimRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(",") : value;
}

/**
 * `If-Match` (`*` or a list of etags) must match the scale set as it is; `If-None-Match: *` refuses
 * an existing one. 412 PreconditionFailed otherwise, before anything changes.
 */
export function checkPreconditions(req: SimRequest, ss: ScaleSetState | undefined, name: string): void {
  const ifMatch = header(req, "if-match")?.trim();
  if (ifMatch !== undefined && ifMatch !== "") {
    const accepted = ifMatch.split(",").map((t) => t.trim());
    const current = ss ? etagOf(ss) : undefined;
    const ok = current !== undefined && (accepted.includes("*") || accepted.includes(current));
    if (!ok) {
      throw new ArmError(
        412,
        "PreconditionFailed",
        ss
          ? `The condition specified using HTTP conditional header(s) is not met: If-Match ${ifMatch} does not match the current etag ${current} of Virtual Machine Scale Set '${name}'.`
          : `The condition specified using HTTP conditional header(s) is not met: Virtual Machine Scale Set '${name}' does not exist.`,
      );
    }
  }
  if (ss && header(req, "if-none-match")?.trim() === "*") {
    throw new ArmError(
      412,
      "PreconditionFailed",
      `The condition specified using HTTP conditional header(s) is not met: Virtual Machine Scale Set '${name}' already exists.`,
    );
  }
}

// --- the model --------------------------------------------------------------------------------

function imageChanged(a: WireImageReference, b: WireImageReference): boolean {
  return JSON.stringify(a).toLowerCase() !== JSON.stringify(b).toLowerCase();
}

/**
 * Sets the model's image; an Automatic or Rolling scale set then upgrades its unprotected
 * instances (a Manual one leaves them until `manualupgrade`). Returns whether the image changed.
 */
export function setModelImage(fleet: Fleet, ss: ScaleSetState, image: WireImageReference): boolean {
  const changed = imageChanged(image, ss.image);
  ss.image = image;
  if (changed && ss.upgradePolicy !== "Manual") {
    const ids = ss.instances.filter((i) => !i.protectedFromScaleSetActions).map((i) => i.instanceId);
    fleet.beginReboot(ss, ids, () => ss.image);
  }
  return changed;
}

/**
 * Another actor's PUT/PATCH of the model's image, already completed (no LRO, no 409 window):
 * the model and the etag change; instances of a Manual scale set keep running what they run.
 */
export function foreignModelWrite(
  ctx: SimContext,
  scaleSet: string,
  image: ScenarioImage,
): { scaleSetId: string; etag: string; imageReference: WireImageReference } {
  const ss = scaleSetByNameOrId(ctx.fleet, scaleSet);
  const wire = parseImageReference(
    ctx,
    scenarioImageToWire(ctx.fleet.state.subscriptionId, ss.resourceGroup, image),
  );
  setModelImage(ctx.fleet, ss, wire);
  bumpEtag(ss);
  ctx.changed();
  return { scaleSetId: ss.id, etag: etagOf(ss), imageReference: ss.image };
}

// --- instances --------------------------------------------------------------------------------

function allocateInstanceIds(ss: ScaleSetState, count: number): string[] {
  const numeric = ss.instances.map((i) => Number.parseInt(i.instanceId, 10)).filter(Number.isFinite);
  let highest = Math.max(ss.highestInstanceId ?? -1, ...numeric);
  const ids: string[] = [];
  for (let n = 0; n < count; n++) ids.push(String(++highest));
  ss.highestInstanceId = highest;
  return ids;
}

/** New instances from the current model: `Creating` until they have booted (instance upgrade time). */
function createInstances(fleet: Fleet, ss: ScaleSetState, count: number): string[] {
  const ids = allocateInstanceIds(ss, count);
  const wallNow = fleet.clock.wallNow();
  for (const instanceId of ids) {
    const instance: InstanceState = {
      instanceId,
      vmId: randomUUID(),
      ...(ss.zones.length > 0 ? { zone: ss.zones[ss.instances.length % ss.zones.length] } : {}),
      protectedFromScaleSetActions: false,
      image: fleet.resolve(ss.image),
      provisioningState: "Creating",
      bootedAtWallMs: wallNow,
      epochs: [],
    };
    ss.instances.push(instance);
  }
  fleet.beginReboot(ss, ids, () => ss.image);
  for (const instance of ss.instances)
    if (ids.includes(instance.instanceId)) instance.provisioningState = "Creating";
  return ids;
}

/** Adds `count` instances (capacity goes up by `count`), as an autoscale rule or a person would. */
export function scaleOut(
  ctx: SimContext,
  scaleSet: string,
  count: number,
): { scaleSetId: string; instanceIds: string[]; capacity: number } {
  if (!Number.isInteger(count) || count < 1 || count > 1000) {
    throw new ArmError(400, "InvalidParameter", `count must be an integer from 1 to 1000, not ${count}.`, {
      target: "count",
    });
  }
  const ss = scaleSetByNameOrId(ctx.fleet, scaleSet);
  const instanceIds = createInstances(ctx.fleet, ss, count);
  bumpEtag(ss);
  ctx.changed();
  return { scaleSetId: ss.id, instanceIds, capacity: ss.instances.length };
}

/**
 * Automatic repair with `repairAction: Replace`: the instance is deleted and a new one, with a new
 * id, is created from the current model. Protected instances are not repaired (409), as in Azure.
 */
export function repairInstance(
  ctx: SimContext,
  scaleSet: string,
  instanceId: string,
): { scaleSetId: string; removedInstanceId: string; instanceId: string } {
  const ss = scaleSetByNameOrId(ctx.fleet, scaleSet);
  const index = ss.instances.findIndex((i) => i.instanceId === instanceId);
  const instance = ss.instances[index];
  if (!instance) throw new ArmError(404, "NotFound", `No instance ${instanceId} in scale set '${ss.name}'.`);
  if (instance.protectedFromScaleSetActions) {
    throw new ArmError(
      409,
      "InstanceProtected",
      `Instance ${instanceId} of '${ss.name}' is protected from scale-set actions; automatic repairs skip it.`,
    );
  }
  // Ids are allocated before the delete so the removed id counts as used even if it was the highest.
  allocateInstanceIds(ss, 0);
  ss.instances.splice(index, 1);
  const [replacement = ""] = createInstances(ctx.fleet, ss, 1);
  ctx.changed();
  return { scaleSetId: ss.id, removedInstanceId: instanceId, instanceId: replacement };
}
