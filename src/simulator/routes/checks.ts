/**
 * A stand-in for a team's own health check, so webhook gates (src/gates/webhook/) can run in the
 * demo and tests without a service of their own: `POST /checks/{name}` with canaryd's webhook
 * body (`rollout.scaleSetId`, `rollout.instances`) or `GET /checks/{name}?scaleSetId=…&instances=…`.
 * It answers, per instance, whether the version it runs behaves (clean boot, healthy) and, for
 * all, `errorRate` (share of instances that do not) and `healthy` (no such instance). Bearer
 * authentication like every route, so a gate names the token as a secret. Stateless.
 */
import { ArmError } from "../arm-errors.ts";
import type { Route, SimContext, SimRequest, SimResponse } from "../router.ts";
import { route } from "../router.ts";
import { vmName } from "../wire.ts";

function asked(req: SimRequest): { scaleSetId: string; instanceIds: string[] } {
  if (req.method === "GET")
    return {
      scaleSetId: req.url.searchParams.get("scaleSetId") ?? "",
      instanceIds: (req.url.searchParams.get("instances") ?? "").split(",").filter(Boolean),
    };
  const rollout = (req.body as { rollout?: { scaleSetId?: unknown; instances?: unknown } } | undefined)
    ?.rollout;
  const instances = Array.isArray(rollout?.instances) ? rollout.instances : [];
  return {
    scaleSetId: typeof rollout?.scaleSetId === "string" ? rollout.scaleSetId : "",
    instanceIds: instances.flatMap((entry: unknown) => {
      const id = (entry as { instanceId?: unknown } | null)?.instanceId;
      return typeof id === "string" ? [id] : [];
    }),
  };
}

function check(ctx: SimContext, req: SimRequest): SimResponse {
  const { scaleSetId, instanceIds } = asked(req);
  const ss = ctx.fleet.scaleSet(scaleSetId);
  if (!ss) throw new ArmError(404, "ScaleSetNotFound", `no scale set ${scaleSetId || "(none given)"}`);
  const instances = instanceIds.map((instanceId) => {
    const instance = ss.instances.find((candidate) => candidate.instanceId === instanceId);
    if (!instance) return { instanceId, found: false, healthy: false };
    const behaviour = ctx.fleet.behaviourOfInstance(instance);
    const healthy = behaviour !== undefined && behaviour.boot === "clean" && behaviour.health === "healthy";
    return { instanceId, name: vmName(ss, instance), found: true, booted: behaviour !== undefined, healthy };
  });
  const unhealthy = instances.filter((instance) => !instance.healthy).length;
  return {
    status: 200,
    body: {
      check: req.params[0],
      scaleSetId: ss.id,
      instances,
      unhealthy,
      errorRate: instances.length === 0 ? 0 : unhealthy / instances.length,
      healthy: unhealthy === 0,
    },
  };
}

export const checkRoutes: Route[] = [
  route("POST", "^/checks/([^/]+)$", "checks.webhook", check),
  route("GET", "^/checks/([^/]+)$", "checks.webhook", check),
];
