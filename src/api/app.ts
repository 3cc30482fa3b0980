/**
 * The control API: one Fastify instance with auth, problem+json errors, rate limits on changes,
 * security headers, OpenAPI docs and the /v1 routes. The daemon composes it with the engine.
 */

import helmet from "@fastify/helmet";
import rateLimit from "@fastify/rate-limit";
import Fastify, { type FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { ApprovalCatalog } from "../approvals/approval-store.ts";
import type { Config } from "../config/schema.ts";
import type { RolloutService } from "../engine/service/rollout-service.ts";
import type { InventoryService } from "../inventory/inventory-service.ts";
import { redactPaths } from "../logging/redact.ts";
import { anonymousCaller, registerAuth } from "./auth.ts";
import { type CanarydMetrics, createMetrics } from "./metrics.ts";
import { registerOpenApi } from "./openapi.ts";
import { rateLimited, registerProblemHandlers } from "./problem.ts";
import { registerActionRoutes } from "./routes/actions.ts";
import { registerApprovalRoutes } from "./routes/approvals.ts";
import { registerDashboardRoutes } from "./routes/dashboard.ts";
import type { RouteDeps } from "./routes/deps.ts";
import { registerEmergencyStopRoutes } from "./routes/emergency-stop.ts";
import { registerEventRoutes } from "./routes/events.ts";
import { registerHealthRoutes } from "./routes/health.ts";
import { registerInventoryRoutes } from "./routes/inventory.ts";
import { registerNotificationRoutes } from "./routes/notifications.ts";
import { registerRecordRoutes } from "./routes/records.ts";
import { registerRollbackRoutes } from "./routes/rollback.ts";
import { registerRolloutRoutes } from "./routes/rollouts.ts";
import { registerWaitRoutes } from "./routes/wait.ts";
import { registerWhoamiRoute } from "./routes/whoami.ts";
import { registerYamlBody } from "./spec-body.ts";

export interface ApiOptions {
  service: RolloutService;
  config: Pick<Config, "server" | "auth">;
  logger: Logger;
  /** Shared with the engine and Azure adapters; buildApi creates one when absent. */
  metrics?: CanarydMetrics;
  /** SSE heartbeat interval (default 15 s). */
  heartbeatMs?: number;
  /** Longest single /wait long-poll (default 300 s). */
  maxWaitSeconds?: number;
  /** Shown in the OpenAPI document. */
  version?: string;
  /** The fleet inventory (GET /v1/inventory); absent: that route answers 503. */
  inventory?: InventoryService;
  /** The approved-version catalog (/v1/approvals); absent: those routes answer 503. */
  approvals?: ApprovalCatalog;
  /** The emergency stop (/v1/stop); absent: those routes answer 503. */
  emergencyStop?: RouteDeps["emergencyStop"];
  /** Notification dead letters (GET /v1/notifications/deadletters). */
  notifications?: RouteDeps["notifications"];
}

export async function buildApi(options: ApiOptions): Promise<FastifyInstance> {
  const { service, config } = options;
  const logger = options.logger.child(
    { component: "api" },
    { redact: { paths: redactPaths, censor: "[redacted]" } },
  );
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: config.server.bodyLimitBytes,
    // Unknown fields are an error, not silently dropped; all errors are reported at once.
    ajv: { customOptions: { removeAdditional: false, allErrors: true } },
  }) as unknown as FastifyInstance;

  if (config.auth.disabled) {
    logger.warn("authentication is disabled: every caller acts as 'anonymous' with role oncall");
  } else if (config.auth.tokens.length === 0) {
    logger.warn("no API tokens are configured: every /v1 request will be refused");
  }

  registerProblemHandlers(app);
  registerYamlBody(app);
  // Before auth: onRequest hooks run in order, and a refused request (401/403) needs the headers too.
  await app.register(helmet, {
    global: true,
    // Plain HTTP is a supported deployment (localhost, TLS ended in front): do not force https.
    contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } },
  });
  registerAuth(app, config.auth);
  await app.register(rateLimit, {
    global: false,
    // After auth, so the limit is per caller; without auth every caller is `anonymous`: use the address.
    hook: "preHandler",
    keyGenerator: (request) =>
      request.caller && request.caller !== anonymousCaller
        ? `caller:${request.caller.id}`
        : `ip:${request.ip}`,
    errorResponseBuilder: (_request, context) => rateLimited(context.max, context.after),
  });
  await registerOpenApi(app, options.version ?? "0.1.0");

  const metrics = options.metrics ?? createMetrics();
  metrics.observeRollouts(service);
  const deps: RouteDeps = {
    service,
    mutationRateLimit: { max: config.server.mutationsPerMinute, timeWindow: 60_000 },
    ...(options.inventory ? { inventory: options.inventory } : {}),
    ...(options.approvals ? { approvals: options.approvals } : {}),
    ...(options.emergencyStop ? { emergencyStop: options.emergencyStop } : {}),
    ...(options.notifications ? { notifications: options.notifications } : {}),
  };
  registerRolloutRoutes(app, deps);
  registerActionRoutes(app, deps);
  registerRollbackRoutes(app, deps);
  registerRecordRoutes(app, deps);
  registerInventoryRoutes(app, deps);
  registerApprovalRoutes(app, deps);
  registerEmergencyStopRoutes(app, deps);
  registerNotificationRoutes(app, deps);
  registerEventRoutes(app, deps, { heartbeatMs: options.heartbeatMs ?? 15_000 });
  registerWaitRoutes(app, deps, { maxWaitSeconds: options.maxWaitSeconds ?? 300 });
  registerHealthRoutes(app, deps, metrics);
  registerWhoamiRoute(app);
  registerDashboardRoutes(app);
  return app;
}
