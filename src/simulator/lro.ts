/**
 * ARM long-running operations as Compute does them: the initial response carries
 * `Azure-AsyncOperation` (an operation status resource: InProgress -> Succeeded | Failed),
 * `Location` (202 while running; then 200 with the resource for PUT/PATCH or empty for POST),
 * and `Retry-After`, so the SDK's pollers really run.
 */
import { ArmError } from "./arm-errors.ts";
import { checkSubscription } from "./lookup.ts";
import type { Route, SimContext, SimResponse } from "./router.ts";
import { route } from "./router.ts";
import type { OperationState } from "./state.ts";
import { scaleSetJson } from "./wire.ts";

const OPERATIONS = String.raw`^/subscriptions/([^/]+)/providers/microsoft\.compute/locations/([^/]+)/operations/([^/]+)$`;

function operationUrl(ctx: SimContext, origin: string, op: OperationState): string {
  return `${origin}/subscriptions/${ctx.fleet.state.subscriptionId}/providers/Microsoft.Compute/locations/${op.location}/operations/${op.id}`;
}

/** `origin` is the scheme://host:port the client used, so the URLs work wherever it reached us from. */
export function lroHeaders(
  ctx: SimContext,
  origin: string,
  op: OperationState,
  apiVersion: string,
): Record<string, string> {
  const url = operationUrl(ctx, origin, op);
  return {
    "Azure-AsyncOperation": `${url}?p=${op.kind}&api-version=${apiVersion}`,
    Location: `${url}?p=${op.kind}&monitor=true&api-version=${apiVersion}`,
    "Retry-After": String(ctx.lroRetryAfterSeconds),
  };
}

function operationStatusBody(op: OperationState) {
  return {
    startTime: new Date(op.startWallMs).toISOString(),
    ...(op.endWallMs !== undefined ? { endTime: new Date(op.endWallMs).toISOString() } : {}),
    status: op.status,
    ...(op.error ? { error: op.error } : {}),
    name: op.id,
  };
}

function findOperation(ctx: SimContext, params: string[]): OperationState {
  checkSubscription(ctx, params[0] ?? "");
  const op = ctx.fleet.operation(params[2] ?? "");
  if (!op) throw new ArmError(404, "NotFound", `The operation '${params[2]}' was not found.`);
  return op;
}

function status(ctx: SimContext, params: string[], url: URL): SimResponse {
  const op = findOperation(ctx, params);
  if (url.searchParams.get("monitor") !== "true") {
    const retry =
      op.status === "InProgress" ? { headers: { "Retry-After": String(ctx.lroRetryAfterSeconds) } } : {};
    return { status: 200, body: operationStatusBody(op), ...retry };
  }
  if (op.status === "InProgress") {
    return {
      status: 202,
      headers: {
        Location: url.toString(),
        "Retry-After": String(ctx.lroRetryAfterSeconds),
      },
    };
  }
  if (op.status === "Failed") {
    const error = op.error ?? { code: "InternalExecutionError", message: "The operation failed." };
    throw new ArmError(400, error.code, error.message);
  }
  if (!op.returnsResource) return { status: 200 };
  const ss = ctx.fleet.scaleSet(op.scaleSetId);
  return ss ? { status: 200, body: scaleSetJson(ctx.fleet, ss) } : { status: 200 };
}

export const operationRoutes: Route[] = [
  route("GET", OPERATIONS, "operations.get", (ctx, req) => status(ctx, req.params, req.url)),
];
