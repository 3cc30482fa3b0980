/** Finds the resource a route names, failing with the 404 ARM gives at each level. */
import { ArmError, parentResourceNotFound, resourceNotFound } from "./arm-errors.ts";
import type { SimContext } from "./router.ts";
import type { InstanceState, ScaleSetState } from "./state.ts";
import { armPrefix } from "./state.ts";

export function checkSubscription(ctx: SimContext, subscriptionId: string): void {
  if (subscriptionId.toLowerCase() !== ctx.fleet.state.subscriptionId.toLowerCase()) {
    throw new ArmError(
      404,
      "SubscriptionNotFound",
      `The subscription '${subscriptionId}' could not be found.`,
    );
  }
}

export function checkResourceGroup(ctx: SimContext, subscriptionId: string, resourceGroup: string): void {
  checkSubscription(ctx, subscriptionId);
  const rg = resourceGroup.toLowerCase();
  const state = ctx.fleet.state;
  const known =
    state.scaleSets.some((s) => s.resourceGroup.toLowerCase() === rg) ||
    state.galleryImages.some((g) => g.resourceGroup.toLowerCase() === rg);
  if (!known)
    throw new ArmError(404, "ResourceGroupNotFound", `Resource group '${resourceGroup}' could not be found.`);
}

export function findScaleSet(ctx: SimContext, params: string[], asParent = false): ScaleSetState {
  const [sub = "", rg = "", name = ""] = params;
  checkResourceGroup(ctx, sub, rg);
  const ss = ctx.fleet.scaleSet(`${armPrefix(sub, rg)}/virtualMachineScaleSets/${name}`);
  if (!ss) {
    throw asParent
      ? parentResourceNotFound("Microsoft.Compute/virtualMachineScaleSets", name)
      : resourceNotFound("Microsoft.Compute/virtualMachineScaleSets", name, rg);
  }
  return ss;
}

export function findInstance(
  ctx: SimContext,
  params: string[],
): { ss: ScaleSetState; instance: InstanceState } {
  const ss = findScaleSet(ctx, params, true);
  const instanceId = params[3] ?? "";
  const instance = ss.instances.find((i) => i.instanceId === instanceId);
  if (!instance) {
    throw resourceNotFound(
      "Microsoft.Compute/virtualMachineScaleSets/virtualMachines",
      `${ss.name}/${instanceId}`,
      ss.resourceGroup,
    );
  }
  return { ss, instance };
}
