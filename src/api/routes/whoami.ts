/**
 * GET /v1/whoami: who the token belongs to, its role, and for each action whether that role may
 * use it. The least role of each action is read from the routes themselves (`app.routeAccess`,
 * filled by auth.ts), so the dashboard never keeps a second copy of the role rules.
 */
import type { FastifyInstance } from "fastify";
import type { Role } from "../../config/schema.ts";
import { callerOf, roleAllows } from "../auth.ts";
import { bearerSecurity, problemResponses } from "../schemas.ts";

/** The dashboard's actions and the route each one calls. */
export const actionRoutes = {
  start: "/v1/rollouts",
  approve: "/v1/rollouts/:id/approve",
  pause: "/v1/rollouts/:id/pause",
  resume: "/v1/rollouts/:id/resume",
  abort: "/v1/rollouts/:id/abort",
  rollback: "/v1/rollouts/:id/rollback",
  release: "/v1/rollouts/:id/release",
  skipWindow: "/v1/rollouts/:id/skip-window",
  stop: "/v1/stop",
  stopClear: "/v1/stop/clear",
} as const;

export function registerWhoamiRoute(app: FastifyInstance): void {
  app.get(
    "/v1/whoami",
    {
      config: { minRole: "viewer" },
      schema: {
        summary: "The caller's identity and role, and which actions that role may use",
        tags: ["auth"],
        security: bearerSecurity,
        response: {
          200: {
            type: "object",
            required: ["id", "role", "actions"],
            properties: {
              id: { type: "string" },
              role: { type: "string", enum: ["viewer", "deployer", "oncall"] },
              actions: {
                type: "object",
                additionalProperties: {
                  type: "object",
                  required: ["minRole", "allowed"],
                  properties: {
                    minRole: { type: "string", enum: ["viewer", "deployer", "oncall"] },
                    allowed: { type: "boolean" },
                  },
                },
              },
            },
          },
          ...problemResponses(401, 403),
        },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const actions: Record<string, { minRole: Role; allowed: boolean }> = {};
      for (const [action, url] of Object.entries(actionRoutes)) {
        const route = app.routeAccess.find((r) => r.method === "POST" && r.url === url);
        // A route that is not registered (or declares no role) is allowed to nobody.
        if (!route?.minRole) continue;
        actions[action] = { minRole: route.minRole, allowed: roleAllows(caller.role, route.minRole) };
      }
      return { id: caller.id, role: caller.role, actions };
    },
  );
}
