/** Microsoft.Compute/virtualMachineScaleSets: get, list, createOrUpdate, update, manual upgrade, reimage, instance view. */
import { randomUUID } from "node:crypto";
import { conflict, invalidParameter } from "../arm-errors.ts";
import { bumpEtag, checkPreconditions, setModelImage } from "../fleet-ops.ts";
import { checkResourceGroup, checkSubscription, findScaleSet } from "../lookup.ts";
import { lroHeaders } from "../lro.ts";
import type { Route, SimContext, SimRequest, SimResponse } from "../router.ts";
import { COMPUTE_RG, route } from "../router.ts";
import type { OperationState, ScaleSetState, WireImageReference } from "../state.ts";
import { armPrefix } from "../state.ts";
import { scaleSetInstanceViewJson, scaleSetJson } from "../wire.ts";

const SCALE_SET = `${COMPUTE_RG}/virtualmachinescalesets/([^/]+)`;

function apiVersion(req: SimRequest): string {
  return req.url.searchParams.get("api-version") ?? "2026-04-01";
}

function asObject(value: unknown, target: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalidParameter(`The value of parameter ${target} is invalid.`, target);
  }
  return value as Record<string, unknown>;
}

/** Checks an image reference from a request body and that the image it names exists. */
export function parseImageReference(ctx: SimContext, value: unknown): WireImageReference {
  const target = "properties.virtualMachineProfile.storageProfile.imageReference";
  const raw = asObject(value, target);
  const pick = (key: string) => (typeof raw[key] === "string" ? (raw[key] as string) : undefined);
  const image: WireImageReference = {};
  for (const key of ["id", "publisher", "offer", "sku", "version"] as const) {
    const v = pick(key);
    if (v !== undefined) image[key] = v;
  }
  const state = ctx.fleet.state;
  if (image.id) {
    const id = image.id.toLowerCase();
    const exists =
      state.galleryVersions.some((v) => v.id.toLowerCase() === id) ||
      state.galleryImages.some((g) => g.id.toLowerCase() === id);
    if (!exists) throw invalidParameter(`The gallery image '${image.id}' does not exist.`, `${target}.id`);
    return { id: image.id };
  }
  if (!image.publisher || !image.offer || !image.sku || !image.version) {
    throw invalidParameter("An image reference needs an id, or publisher, offer, sku and version.", target);
  }
  const market = state.marketplaceImages.find(
    (m) =>
      m.publisher.toLowerCase() === image.publisher?.toLowerCase() &&
      m.offer.toLowerCase() === image.offer?.toLowerCase() &&
      m.sku.toLowerCase() === image.sku?.toLowerCase(),
  );
  const versionKnown =
    image.version.toLowerCase() === "latest" || market?.versions.some((v) => v.name === image.version);
  if (!market || !versionKnown) {
    throw invalidParameter(
      `The platform image '${image.publisher}:${image.offer}:${image.sku}:${image.version}' is not available.`,
      target,
    );
  }
  return image;
}

function refuseWhileBusy(ctx: SimContext, ss: ScaleSetState): void {
  const busy = ctx.fleet.activeOperation(ss);
  if (busy) {
    throw conflict(
      `Operation on Virtual Machine Scale Set '${ss.name}' is not allowed because another operation (${busy.kind}) is in progress.`,
    );
  }
}

/** Applies a PUT/PATCH body's model changes; Automatic and Rolling scale sets then upgrade their instances. */
function applyModel(
  ctx: SimContext,
  ss: ScaleSetState,
  body: Record<string, unknown>,
  operation: string,
): OperationState {
  const properties = body.properties === undefined ? {} : asObject(body.properties, "properties");
  const profile =
    properties.virtualMachineProfile === undefined
      ? undefined
      : asObject(properties.virtualMachineProfile, "properties.virtualMachineProfile");
  const storage =
    profile?.storageProfile === undefined
      ? undefined
      : asObject(profile.storageProfile, "properties.virtualMachineProfile.storageProfile");
  const image =
    storage?.imageReference === undefined ? undefined : parseImageReference(ctx, storage.imageReference);
  const mode =
    properties.upgradePolicy === undefined
      ? undefined
      : asObject(properties.upgradePolicy, "properties.upgradePolicy").mode;
  if (mode !== undefined && mode !== "Manual" && mode !== "Automatic" && mode !== "Rolling") {
    throw invalidParameter(
      `Upgrade policy mode '${String(mode)}' is not valid.`,
      "properties.upgradePolicy.mode",
    );
  }
  if (body.tags !== undefined) {
    const tags = asObject(body.tags, "tags");
    ss.tags = Object.fromEntries(Object.entries(tags).map(([k, v]) => [k, String(v)]));
  }
  if (mode) ss.upgradePolicy = mode;
  const fleet = ctx.fleet;
  const failWith = ctx.faults.takeLroFailure(operation);
  const op = fleet.startOperation(ss, "modelUpdate", {
    dueSimMs: fleet.clock.simNow() + fleet.state.timing.modelUpdateSeconds * 1000,
    ...(failWith ? { failWith } : {}),
  });
  if (image) setModelImage(fleet, ss, image);
  bumpEtag(ss);
  ctx.changed();
  return op;
}

function update(ctx: SimContext, req: SimRequest): SimResponse {
  const ss = findScaleSet(ctx, req.params);
  const body = asObject(req.body, "parameters");
  checkPreconditions(req, ss, ss.name);
  refuseWhileBusy(ctx, ss);
  const op = applyModel(ctx, ss, body, "virtualMachineScaleSets.update");
  return {
    status: 200,
    body: scaleSetJson(ctx.fleet, ss),
    headers: lroHeaders(ctx, req.url.origin, op, apiVersion(req)),
  };
}

function createOrUpdate(ctx: SimContext, req: SimRequest): SimResponse {
  const [sub = "", rg = "", name = ""] = req.params;
  checkResourceGroup(ctx, sub, rg);
  const body = asObject(req.body, "parameters");
  const existing = ctx.fleet.scaleSet(`${armPrefix(sub, rg)}/virtualMachineScaleSets/${name}`);
  checkPreconditions(req, existing, name);
  if (existing) {
    refuseWhileBusy(ctx, existing);
    const op = applyModel(ctx, existing, body, "virtualMachineScaleSets.createOrUpdate");
    return {
      status: 200,
      body: scaleSetJson(ctx.fleet, existing),
      headers: lroHeaders(ctx, req.url.origin, op, apiVersion(req)),
    };
  }
  const location =
    typeof body.location === "string" ? body.location.replace(/\s+/g, "").toLowerCase() : undefined;
  if (!location) throw invalidParameter("The location of the scale set is required.", "location");
  const properties = asObject(body.properties ?? {}, "properties");
  const profile = asObject(properties.virtualMachineProfile, "properties.virtualMachineProfile");
  const storage = asObject(profile.storageProfile, "properties.virtualMachineProfile.storageProfile");
  const image = parseImageReference(ctx, storage.imageReference);
  const sku = body.sku === undefined ? {} : asObject(body.sku, "sku");
  const capacity = typeof sku.capacity === "number" ? sku.capacity : 2;
  const zones = Array.isArray(body.zones) ? body.zones.map(String) : [];
  const upgrade =
    properties.upgradePolicy === undefined
      ? {}
      : asObject(properties.upgradePolicy, "properties.upgradePolicy");
  const fleet = ctx.fleet;
  const ss: ScaleSetState = {
    id: `${armPrefix(fleet.state.subscriptionId, rg)}/virtualMachineScaleSets/${name}`,
    name,
    resourceGroup: rg,
    location,
    sku: typeof sku.name === "string" ? sku.name : "Standard_D2s_v5",
    zones,
    orchestrationMode: properties.orchestrationMode === "Flexible" ? "Flexible" : "Uniform",
    upgradePolicy: upgrade.mode === "Automatic" || upgrade.mode === "Rolling" ? upgrade.mode : "Manual",
    image,
    tags:
      body.tags && typeof body.tags === "object"
        ? Object.fromEntries(Object.entries(body.tags).map(([k, v]) => [k, String(v)]))
        : {},
    uniqueId: randomUUID(),
    timeCreated: new Date(fleet.clock.wallNow()).toISOString(),
    instances: Array.from({ length: capacity }, (_, i) => ({
      instanceId: String(i),
      vmId: randomUUID(),
      ...(zones.length > 0 ? { zone: zones[i % zones.length] } : {}),
      protectedFromScaleSetActions: false,
      image: fleet.resolve(image),
      provisioningState: "Creating" as const,
      bootedAtWallMs: fleet.clock.wallNow(),
      epochs: [],
    })),
    etagVersion: 1,
    highestInstanceId: capacity - 1,
  };
  fleet.addScaleSet(ss);
  fleet.beginReboot(
    ss,
    ss.instances.map((i) => i.instanceId),
    () => image,
  );
  for (const instance of ss.instances) instance.provisioningState = "Creating";
  const failWith = ctx.faults.takeLroFailure("virtualMachineScaleSets.createOrUpdate");
  const op = fleet.startOperation(ss, "create", {
    instanceIds: ss.instances.map((i) => i.instanceId),
    ...(failWith ? { failWith } : {}),
  });
  ctx.changed();
  return {
    status: 201,
    body: scaleSetJson(fleet, ss),
    headers: lroHeaders(ctx, req.url.origin, op, apiVersion(req)),
  };
}

function instanceIdsFrom(body: unknown, required: boolean): string[] | undefined {
  if (body === undefined || body === null || body === "") {
    if (required)
      throw invalidParameter("Required parameter 'instanceIds' is missing (null).", "instanceIds");
    return undefined;
  }
  const ids = asObject(body, "vmInstanceIDs").instanceIds;
  if (ids === undefined && !required) return undefined;
  if (!Array.isArray(ids) || ids.length === 0 || !ids.every((id) => typeof id === "string")) {
    throw invalidParameter("The value of parameter instanceIds is invalid.", "instanceIds");
  }
  return ids as string[];
}

function checkInstanceIds(ss: ScaleSetState, ids: string[]): void {
  for (const id of ids) {
    if (!ss.instances.some((i) => i.instanceId === id)) {
      throw invalidParameter(
        `The provided instanceId ${id} is not an active Virtual Machine Scale Set VM instanceId.`,
        "instanceIds",
      );
    }
  }
}

/** POST manualupgrade: instances not on the model (and not protected) reboot into the model's image. */
function updateInstances(ctx: SimContext, req: SimRequest): SimResponse {
  const ss = findScaleSet(ctx, req.params);
  const ids = instanceIdsFrom(req.body, true) ?? [];
  checkInstanceIds(ss, ids);
  refuseWhileBusy(ctx, ss);
  const fleet = ctx.fleet;
  const targets = ss.instances
    .filter((i) => ids.includes(i.instanceId) && !i.protectedFromScaleSetActions)
    .filter((i) => !fleet.latestModelApplied(ss, i) || i.provisioningState === "Failed")
    .map((i) => i.instanceId);
  fleet.beginReboot(ss, targets, () => ss.image);
  const failWith = ctx.faults.takeLroFailure("virtualMachineScaleSets.updateInstances");
  const op = fleet.startOperation(ss, "upgrade", { instanceIds: targets, ...(failWith ? { failWith } : {}) });
  ctx.changed();
  return { status: 202, headers: lroHeaders(ctx, req.url.origin, op, apiVersion(req)) };
}

/** POST reimage: instances reboot into the image they already run (`latest` resolves anew). */
function reimage(ctx: SimContext, req: SimRequest): SimResponse {
  const ss = findScaleSet(ctx, req.params);
  const ids = instanceIdsFrom(req.body, false);
  if (ids) checkInstanceIds(ss, ids);
  refuseWhileBusy(ctx, ss);
  const targets = ss.instances
    .filter((i) => (ids ? ids.includes(i.instanceId) : true) && !i.protectedFromScaleSetActions)
    .map((i) => i.instanceId);
  const fleet = ctx.fleet;
  fleet.beginReboot(ss, targets, (instance) => {
    const { exactVersion: _exact, ...requested } = instance.image;
    return requested;
  });
  const failWith = ctx.faults.takeLroFailure("virtualMachineScaleSets.reimage");
  const op = fleet.startOperation(ss, "reimage", { instanceIds: targets, ...(failWith ? { failWith } : {}) });
  ctx.changed();
  return { status: 202, headers: lroHeaders(ctx, req.url.origin, op, apiVersion(req)) };
}

function list(ctx: SimContext, scaleSets: ScaleSetState[]): SimResponse {
  return { status: 200, body: { value: scaleSets.map((ss) => scaleSetJson(ctx.fleet, ss)) } };
}

export const scaleSetRoutes: Route[] = [
  route("GET", `${SCALE_SET}$`, "virtualMachineScaleSets.get", (ctx, req) => ({
    status: 200,
    body: scaleSetJson(ctx.fleet, findScaleSet(ctx, req.params)),
  })),
  route("PATCH", `${SCALE_SET}$`, "virtualMachineScaleSets.update", update),
  route("PUT", `${SCALE_SET}$`, "virtualMachineScaleSets.createOrUpdate", createOrUpdate),
  route("POST", `${SCALE_SET}/manualupgrade$`, "virtualMachineScaleSets.updateInstances", updateInstances),
  route("POST", `${SCALE_SET}/reimage$`, "virtualMachineScaleSets.reimage", reimage),
  route("GET", `${SCALE_SET}/instanceview$`, "virtualMachineScaleSets.getInstanceView", (ctx, req) => ({
    status: 200,
    body: scaleSetInstanceViewJson(ctx.fleet, findScaleSet(ctx, req.params)),
  })),
  route("GET", `${COMPUTE_RG}/virtualmachinescalesets$`, "virtualMachineScaleSets.list", (ctx, req) => {
    const [sub = "", rg = ""] = req.params;
    checkResourceGroup(ctx, sub, rg);
    return list(
      ctx,
      ctx.fleet.state.scaleSets.filter((ss) => ss.resourceGroup.toLowerCase() === rg.toLowerCase()),
    );
  }),
  route(
    "GET",
    String.raw`^/subscriptions/([^/]+)/providers/microsoft\.compute/virtualmachinescalesets$`,
    "virtualMachineScaleSets.listAll",
    (ctx, req) => {
      checkSubscription(ctx, req.params[0] ?? "");
      return list(ctx, ctx.fleet.state.scaleSets);
    },
  ),
];
