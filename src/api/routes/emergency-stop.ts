/**
 * The emergency stop (src/emergency-stop/): GET shows it, POST sets it (on-call, reason
 * required: every active rollout pauses, new starts are refused with 423), POST /clear lifts it
 * (recorded in each affected timeline; nothing resumes by itself). 503 when none is wired.
 */
import type { FastifyInstance } from "fastify";
import { CanarydError } from "../../engine/service/rollout-service.ts";
import { callerOf } from "../auth.ts";
import { bearerSecurity, problemResponses, reasonSchema } from "../schemas.ts";
import type { RouteDeps } from "./deps.ts";

const stopUnavailable = () =>
  new CanarydError("EMERGENCY_STOP_UNAVAILABLE", 503, "this daemon has no emergency stop wired");

const stateSchema = {
  type: "object",
  required: ["active", "affectedRolloutIds"],
  properties: {
    active: { type: "boolean" },
    actor: { type: "string" },
    reason: { type: "string" },
    at: { type: "string" },
    affectedRolloutIds: { type: "array", items: { type: "string" } },
    clearedBy: { type: "string" },
    rollouts: {
      type: "array",
      items: {
        type: "object",
        properties: {
          id: { type: "string" },
          phase: { type: "string" },
          paused: { type: "boolean" },
          note: { type: "string" },
        },
      },
    },
  },
} as const;

export function registerEmergencyStopRoutes(
  app: FastifyInstance,
  { emergencyStop, mutationRateLimit }: RouteDeps,
): void {
  app.get(
    "/v1/stop",
    {
      config: { minRole: "viewer" },
      schema: {
        summary: "Whether an emergency stop is in force, who set it and why",
        tags: ["emergency stop"],
        security: bearerSecurity,
        response: { 200: stateSchema, ...problemResponses(401, 403, 503) },
      },
    },
    async () => {
      if (!emergencyStop) throw stopUnavailable();
      return emergencyStop.state();
    },
  );

  app.post<{ Body: { reason: string } }>(
    "/v1/stop",
    {
      config: { minRole: "oncall", rateLimit: mutationRateLimit },
      schema: {
        summary: "Emergency stop: pause every active rollout and refuse new starts until cleared",
        description:
          "Each active rollout is paused through its own pause action (its timeline names the caller and the " +
          "reason) and gets an `emergencyStop.set` entry; a rollback in progress is never stopped. While set, " +
          "POST /v1/rollouts answers 423 EMERGENCY_STOP. Setting it again keeps the first reason and sweeps again.",
        tags: ["emergency stop"],
        security: bearerSecurity,
        body: {
          type: "object",
          required: ["reason"],
          properties: { reason: reasonSchema },
          additionalProperties: false,
        },
        response: { 200: stateSchema, ...problemResponses(400, 401, 403, 429, 503) },
      },
    },
    async (request) => {
      if (!emergencyStop) throw stopUnavailable();
      return emergencyStop.stop(callerOf(request), request.body.reason);
    },
  );

  app.post<{ Body: { reason?: string } | undefined }>(
    "/v1/stop/clear",
    {
      config: { minRole: "oncall", rateLimit: mutationRateLimit },
      schema: {
        summary: "Lift the emergency stop; paused rollouts stay paused until resumed",
        description:
          "Writes `emergencyStop.cleared` in the timeline of every rollout the stop touched. Nothing resumes " +
          "by itself: resume each rollout when it is safe. 409 when no stop is in force.",
        tags: ["emergency stop"],
        security: bearerSecurity,
        body: {
          type: "object",
          properties: { reason: reasonSchema },
          additionalProperties: false,
        },
        response: { 200: stateSchema, ...problemResponses(400, 401, 403, 409, 429, 503) },
      },
    },
    async (request) => {
      if (!emergencyStop) throw stopUnavailable();
      return emergencyStop.clear(callerOf(request), request.body?.reason);
    },
  );
}
