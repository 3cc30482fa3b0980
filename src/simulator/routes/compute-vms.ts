/** Microsoft.Compute virtualMachineScaleSets/virtualMachines: list (paged, `$expand=instanceView`), get, getInstanceView. */
import { findInstance, findScaleSet } from "../lookup.ts";
import type { Route, SimContext, SimRequest, SimResponse } from "../router.ts";
import { COMPUTE_RG, route } from "../router.ts";
import { vmInstanceViewJson, vmJson } from "../wire.ts";

const VMS = `${COMPUTE_RG}/virtualmachinescalesets/([^/]+)/virtualmachines`;

function wantsInstanceView(req: SimRequest): boolean {
  return (req.url.searchParams.get("$expand") ?? "").toLowerCase().includes("instanceview");
}

/** Pages of `vmListPageSize` VMs; `nextLink` carries an opaque `$skiptoken` as ARM's does. */
function list(ctx: SimContext, req: SimRequest): SimResponse {
  const ss = findScaleSet(ctx, req.params, true);
  const start = Number.parseInt(req.url.searchParams.get("$skiptoken") ?? "0", 10) || 0;
  const page = ss.instances.slice(start, start + ctx.vmListPageSize);
  const body: { value: unknown[]; nextLink?: string } = {
    value: page.map((instance) => vmJson(ctx.fleet, ss, instance, wantsInstanceView(req))),
  };
  if (start + ctx.vmListPageSize < ss.instances.length) {
    const next = new URL(req.url.toString());
    next.searchParams.set("$skiptoken", String(start + ctx.vmListPageSize));
    body.nextLink = next.toString();
  }
  return { status: 200, body };
}

export const vmRoutes: Route[] = [
  route("GET", `${VMS}$`, "virtualMachineScaleSetVMs.list", list),
  route("GET", `${VMS}/([^/]+)$`, "virtualMachineScaleSetVMs.get", (ctx, req) => {
    const { ss, instance } = findInstance(ctx, req.params);
    return { status: 200, body: vmJson(ctx.fleet, ss, instance, wantsInstanceView(req)) };
  }),
  route("GET", `${VMS}/([^/]+)/instanceview$`, "virtualMachineScaleSetVMs.getInstanceView", (ctx, req) => {
    const { ss, instance } = findInstance(ctx, req.params);
    return { status: 200, body: vmInstanceViewJson(ctx.fleet, ss, instance) };
  }),
];
