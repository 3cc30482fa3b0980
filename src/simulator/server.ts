/** The HTTPS front: authentication, faults, routing, ARM-style errors and the request log. */
import { randomUUID, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import { ArmError } from "./arm-errors.ts";
import { operationRoutes } from "./lro.ts";
import type { Route, SimContext, SimResponse } from "./router.ts";
import { matchRoute } from "./router.ts";
import { adminRoutes } from "./routes/admin.ts";
import { bootDiagnosticsRoutes } from "./routes/boot-diagnostics.ts";
import { checkRoutes } from "./routes/checks.ts";
import { scaleSetRoutes } from "./routes/compute-scale-sets.ts";
import { vmRoutes } from "./routes/compute-vms.ts";
import { galleryRoutes } from "./routes/galleries.ts";
import { logsRoutes } from "./routes/logs.ts";
import { marketplaceRoutes } from "./routes/marketplace.ts";
import { metricsRoutes } from "./routes/metrics.ts";
import { resourceGraphRoutes } from "./routes/resource-graph.ts";

/** Every route the simulator serves (the gate registry test checks providers against it). */
export const ROUTES: Route[] = [
  ...operationRoutes,
  ...vmRoutes,
  ...bootDiagnosticsRoutes,
  ...scaleSetRoutes,
  ...galleryRoutes,
  ...marketplaceRoutes,
  ...metricsRoutes,
  ...resourceGraphRoutes,
  ...logsRoutes,
  ...checkRoutes,
  ...adminRoutes,
];

const MAX_BODY_BYTES = 1 << 20;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES)
        reject(new ArmError(413, "RequestEntityTooLarge", "The request body is too large."));
      else chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/**
 * The bearer token is the simulator's token, alone or bound to an audience as
 * `<token>.<base64url(audience)>` (SimulatorTokenCredential). A bound token for Azure Monitor
 * metrics must name `metricsAudience`, one for Log Analytics `logAnalyticsAudience`, as Azure
 * refuses a token issued for another resource.
 */
function authorized(header: string | undefined, token: string, metricsAudience: string | undefined): boolean {
  const bearer = header?.startsWith("Bearer ") ? header.slice(7) : "";
  const [secret = "", audience] = bearer.split(".", 2);
  const presented = Buffer.from(secret);
  const expected = Buffer.from(token);
  if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) return false;
  if (audience === undefined || metricsAudience === undefined) return true;
  return (
    Buffer.from(audience, "base64url").toString().replace(/\/+$/, "") === metricsAudience.replace(/\/+$/, "")
  );
}

/**
 * URLs the simulator hands out (LRO status, nextLink, SAS URIs) use the host the client used, as
 * Azure's do, so a client reaching it by another name (a compose service name) can follow them.
 */
function requestOrigin(host: string | undefined, fallback: string): string {
  return host && /^[A-Za-z0-9.-]+(:\d+)?$|^\[[0-9A-Fa-f:.]+\](:\d+)?$/.test(host)
    ? `https://${host}`
    : fallback;
}

function send(res: ServerResponse, response: SimResponse): void {
  const headers: Record<string, string> = {
    "x-ms-request-id": randomUUID(),
    "x-ms-correlation-request-id": randomUUID(),
    ...response.headers,
  };
  if (response.raw !== undefined) {
    res.writeHead(response.status, {
      ...headers,
      "Content-Type": response.contentType ?? "application/octet-stream",
    });
    res.end(response.raw);
    return;
  }
  if (response.body === undefined) {
    res.writeHead(response.status, { ...headers, "Content-Length": "0" });
    res.end();
    return;
  }
  res.writeHead(response.status, { ...headers, "Content-Type": "application/json; charset=utf-8" });
  res.end(JSON.stringify(response.body));
}

function errorResponse(error: ArmError): SimResponse {
  return { status: error.status, body: error.body(), headers: error.headers };
}

export function createSimulatorServer(
  ctx: SimContext,
  tls: { cert: string; key: string },
  token: string,
  metricsAudience = "https://metrics.monitor.azure.com",
  logAnalyticsAudience = "https://api.loganalytics.io",
): Server {
  const server = createServer({ cert: tls.cert, key: tls.key, keepAlive: true }, (req, res) => {
    const started = Date.now();
    const startedSimMs = ctx.fleet.clock.simNow();
    const url = new URL(req.url ?? "/", requestOrigin(req.headers.host, ctx.baseUrl));
    const method = req.method ?? "GET";
    const matched = matchRoute(ROUTES, method, url.pathname);
    const operation = matched?.route.operation ?? "unknown";
    const finish = (response: SimResponse) => {
      send(res, response);
      ctx.log.add({
        method,
        path: url.pathname,
        operation,
        status: response.status,
        time: new Date(started).toISOString(),
        simulatedMs: Math.round(startedSimMs),
        durationMs: Date.now() - started,
      });
    };
    const handle = async (): Promise<SimResponse> => {
      if (!matched) {
        throw new ArmError(
          404,
          "NotFound",
          `No simulated resource or operation at ${method} ${url.pathname}.`,
        );
      }
      const { route, params } = matched;
      const audience = operation.startsWith("metrics.")
        ? metricsAudience
        : operation.startsWith("logs.")
          ? logAnalyticsAudience
          : undefined;
      if (route.auth === "bearer" && !authorized(req.headers.authorization, token, audience)) {
        throw new ArmError(
          401,
          "AuthenticationFailed",
          "Authentication failed. The 'Authorization' header is missing or invalid.",
          {
            headers: {
              "WWW-Authenticate":
                'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token"',
            },
          },
        );
      }
      const text = await readBody(req);
      if (route.faultable) {
        const action = await ctx.faults.apply(operation);
        if (action?.kind === "throttle") {
          throw new ArmError(
            429,
            "TooManyRequests",
            `The request is being throttled (${operation}). Retry after ${action.retryAfterSeconds} seconds.`,
            {
              headers: {
                "Retry-After": String(action.retryAfterSeconds),
                "x-ms-ratelimit-remaining-resource": "Microsoft.Compute/VMScaleSetActionsPerMinute;0",
              },
            },
          );
        }
        if (action?.kind === "outage") {
          throw new ArmError(
            503,
            "ServiceUnavailable",
            "The service is currently unavailable. Azure Resource Manager cannot process the request; retry later.",
            { headers: { "Retry-After": String(action.retryAfterSeconds) } },
          );
        }
        if (action?.kind === "serverError") {
          throw new ArmError(
            action.status,
            "InternalServerError",
            "The server encountered an internal error. Please retry the request.",
          );
        }
      }
      let body: unknown;
      if (text.length > 0) {
        try {
          body = JSON.parse(text);
        } catch {
          throw new ArmError(
            400,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized.",
          );
        }
      }
      if (ctx.fleet.settle()) ctx.changed();
      return await route.handle(ctx, { method, url, params, body, headers: req.headers });
    };
    handle().then(finish, (error: unknown) => {
      if (error instanceof ArmError) return finish(errorResponse(error));
      const message = error instanceof Error ? error.message : String(error);
      finish({
        status: 500,
        body: { error: { code: "InternalServerError", message: `Simulator error: ${message}` } },
      });
    });
  });
  // Longer than clients keep idle sockets, so a client never reuses a socket the server is closing
  // (which surfaces as a spurious ECONNRESET and an extra SDK retry).
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  return server;
}
