/**
 * The admin endpoint (`/admin/...`, outside ARM paths, same bearer token): switch faults on and
 * off, release held requests, and inspect what instances run and what the simulator was asked.
 */
import { z } from "zod";
import { ArmError, invalidParameter } from "../arm-errors.ts";
import { foreignModelWrite, repairInstance, scaleOut } from "../fleet-ops.ts";
import type { Route, SimContext, SimRequest, SimResponse } from "../router.ts";
import { route } from "../router.ts";
import { scenarioImageSchema } from "../scenario.ts";

/** What each instance of a scale set runs now: the image inspection tests and the demo rely on. */
export function instanceImages(ctx: SimContext, scaleSetId: string) {
  ctx.fleet.settle();
  const ss = ctx.fleet.scaleSet(scaleSetId);
  if (!ss) throw new ArmError(404, "ResourceNotFound", `Scale set '${scaleSetId}' is not simulated.`);
  return ss.instances.map((instance) => ({
    instanceId: instance.instanceId,
    imageReference: instance.image,
    version: instance.image.exactVersion ?? instance.image.version,
    ...(instance.pendingImage ? { pendingImageReference: instance.pendingImage } : {}),
    provisioningState: instance.provisioningState,
    latestModelApplied: ctx.fleet.latestModelApplied(ss, instance),
  }));
}

const options = { faultable: false } as const;

/** Parses an admin request body, refusing it with 400 InvalidParameter naming each problem. */
function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const parsed = schema.safeParse(body ?? {});
  if (!parsed.success) {
    throw invalidParameter(
      `Invalid request body: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")}`,
    );
  }
  return parsed.data;
}

const SCALE_SET_ADMIN = "^/admin/scalesets/([^/]+)";

/**
 * `GET /admin/held[?operation=…][&wait=true&count=N&timeoutMs=T]`: with `wait`, answers once N
 * requests are held (or 408 after T ms), so another process can wait for a hold without polling.
 */
async function heldRequests(ctx: SimContext, req: SimRequest): Promise<SimResponse> {
  const q = req.url.searchParams;
  const operation = q.get("operation") ?? undefined;
  if (q.get("wait") === "true") {
    const count = Math.max(1, Number.parseInt(q.get("count") ?? "1", 10) || 1);
    const timeoutMs = Math.min(120_000, Math.max(0, Number.parseInt(q.get("timeoutMs") ?? "30000", 10) || 0));
    const giveUp = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    const outcome = await Promise.race([ctx.faults.waitForHeld(operation, count, giveUp.signal), timedOut]);
    clearTimeout(timer);
    giveUp.abort();
    if (outcome === "timeout") {
      throw new ArmError(
        408,
        "HoldWaitTimedOut",
        `Fewer than ${count} requests were held within ${timeoutMs} ms.`,
      );
    }
  }
  return { status: 200, body: { value: ctx.faults.held(operation) } };
}

const resourceGraphQuotaSchema = z.strictObject({
  limit: z.number().int().min(0),
  windowSeconds: z.number().int().min(1).max(3600),
});

export const adminRoutes: Route[] = [
  route(
    "PUT",
    "^/admin/resourcegraph/quota$",
    "admin.resourceGraphQuota",
    (ctx, req) => {
      const quota = parseBody(resourceGraphQuotaSchema, req.body);
      ctx.resourceGraph.quota.set(quota);
      return { status: 200, body: quota };
    },
    options,
  ),
  route(
    "GET",
    "^/admin/faults$",
    "admin.listFaults",
    (ctx) => ({ status: 200, body: { value: ctx.admin.listFaults() } }),
    options,
  ),
  route(
    "POST",
    "^/admin/faults$",
    "admin.addFault",
    (ctx, req) => ({ status: 201, body: ctx.admin.addFault(req.body) }),
    options,
  ),
  route(
    "DELETE",
    "^/admin/faults$",
    "admin.clearFaults",
    (ctx) => {
      ctx.admin.clearFaults();
      return { status: 204 };
    },
    options,
  ),
  route(
    "DELETE",
    "^/admin/faults/([^/]+)$",
    "admin.removeFault",
    (ctx, req) => {
      if (!ctx.admin.removeFault(req.params[0] ?? ""))
        throw new ArmError(404, "NotFound", `No fault '${req.params[0]}'.`);
      return { status: 204 };
    },
    options,
  ),
  route("GET", "^/admin/held$", "admin.held", heldRequests, options),
  route(
    "GET",
    "^/admin/operations$",
    "admin.operations",
    (ctx) => ({
      status: 200,
      body: {
        value: ctx.fleet.state.operations.map((op) => ({
          id: op.id,
          kind: op.kind,
          scaleSetId: op.scaleSetId,
          status: op.status,
          instanceIds: op.instanceIds,
          startTime: new Date(op.startWallMs).toISOString(),
          ...(op.endWallMs !== undefined ? { endTime: new Date(op.endWallMs).toISOString() } : {}),
          ...(op.error ? { error: op.error } : {}),
        })),
      },
    }),
    options,
  ),
  route(
    "POST",
    "^/admin/faults/([^/]+)/release$",
    "admin.release",
    (ctx, req) => ({
      status: 200,
      body: { released: ctx.faults.release(req.params[0]) },
    }),
    options,
  ),
  route(
    "GET",
    "^/admin/requests$",
    "admin.requests",
    (ctx, req) => {
      const q = req.url.searchParams;
      const text = (key: string) => (q.get(key) ? { [key]: q.get(key) as string } : {});
      const sinceSim = q.get("sinceSimulatedMs");
      return {
        status: 200,
        body: {
          value: ctx.log.entries({
            ...text("operation"),
            ...text("since"),
            ...text("scaleSet"),
            ...text("method"),
            ...(sinceSim ? { sinceSimulatedMs: Number(sinceSim) } : {}),
          }),
        },
      };
    },
    options,
  ),
  route(
    "DELETE",
    "^/admin/requests$",
    "admin.clearRequests",
    (ctx) => {
      ctx.log.clear();
      return { status: 204 };
    },
    options,
  ),
  route(
    "GET",
    "^/admin/instances$",
    "admin.instances",
    (ctx) => ({
      status: 200,
      body: {
        value: ctx.fleet.state.scaleSets.map((ss) => ({
          id: ss.id,
          name: ss.name,
          location: ss.location,
          instances: instanceImages(ctx, ss.id),
        })),
      },
    }),
    options,
  ),
  route(
    "GET",
    "^/admin/clock$",
    "admin.clock",
    (ctx) => ({
      status: 200,
      body: {
        timeScale: ctx.fleet.clock.timeScale,
        simulatedMs: ctx.fleet.clock.simNow(),
        wallTime: new Date(ctx.fleet.clock.wallNow()).toISOString(),
      },
    }),
    options,
  ),
  route(
    "POST",
    `${SCALE_SET_ADMIN}/scaleout$`,
    "admin.scaleOut",
    (ctx, req) => {
      const { count } = parseBody(z.object({ count: z.number().int().min(1).max(1000) }), req.body);
      return { status: 200, body: scaleOut(ctx, req.params[0] ?? "", count) };
    },
    options,
  ),
  route(
    "POST",
    `${SCALE_SET_ADMIN}/repair$`,
    "admin.repair",
    (ctx, req) => {
      const { instanceId } = parseBody(z.object({ instanceId: z.string().min(1) }), req.body);
      return { status: 200, body: repairInstance(ctx, req.params[0] ?? "", instanceId) };
    },
    options,
  ),
  route(
    "POST",
    `${SCALE_SET_ADMIN}/modelwrite$`,
    "admin.foreignModelWrite",
    (ctx, req) => {
      const { image } = parseBody(z.object({ image: scenarioImageSchema }), req.body);
      return { status: 200, body: foreignModelWrite(ctx, req.params[0] ?? "", image) };
    },
    options,
  ),
  route(
    "GET",
    "^/admin/events$",
    "admin.events",
    (ctx) => ({ status: 200, body: { value: ctx.scenarioEvents?.list() ?? [] } }),
    options,
  ),
  route(
    "POST",
    "^/admin/events$",
    "admin.addEvent",
    (ctx, req) => {
      if (!ctx.scenarioEvents)
        throw new ArmError(503, "NotReady", "The simulator has not started its events yet.");
      return { status: 201, body: ctx.scenarioEvents.add(req.body) };
    },
    options,
  ),
];
