/**
 * On-call's two ways to roll back (by rollout id, or by scale set when the id is not at hand), and
 * the release of a failed rollout's scale sets.
 */
import type { FastifyInstance } from "fastify";
import { callerOf } from "../auth.ts";
import {
  actionBodySchema,
  bearerSecurity,
  idParamsSchema,
  problemResponses,
  reasonSchema,
  rolloutViewSchema,
} from "../schemas.ts";
import type { RouteDeps } from "./deps.ts";

export function registerRollbackRoutes(
  app: FastifyInstance,
  { service, mutationRateLimit }: RouteDeps,
): void {
  app.post<{ Params: { id: string }; Body: { reason?: string } | undefined }>(
    "/v1/rollouts/:id/rollback",
    {
      config: { minRole: "oncall", rateLimit: mutationRateLimit },
      schema: {
        summary: "Roll the rollout back to the recorded previous versions",
        tags: ["rollback"],
        security: bearerSecurity,
        params: idParamsSchema,
        body: actionBodySchema,
        response: { 200: rolloutViewSchema, ...problemResponses(400, 401, 403, 404, 409, 410, 429) },
      },
    },
    async (request) => service.act(request.params.id, "rollback", callerOf(request), request.body?.reason),
  );

  app.post<{ Params: { id: string }; Body: { reason: string } }>(
    "/v1/rollouts/:id/release",
    {
      config: { minRole: "oncall", rateLimit: mutationRateLimit },
      schema: {
        summary: "Hand back the scale sets a failed rollout still holds, as they are",
        description:
          "A rollout whose rollback could not converge ends `failed` and keeps its claim on every scale set not " +
          "back on the previous image, so no new rollout can take them. `release` (reason required, recorded in " +
          "the timeline) frees them without changing them; `rollback` instead resumes the convergence loop.",
        tags: ["rollback"],
        security: bearerSecurity,
        params: idParamsSchema,
        body: {
          type: "object",
          required: ["reason"],
          properties: { reason: reasonSchema },
          additionalProperties: false,
        },
        response: { 200: rolloutViewSchema, ...problemResponses(400, 401, 403, 404, 409, 410, 429) },
      },
    },
    async (request) => service.act(request.params.id, "release", callerOf(request), request.body.reason),
  );

  app.post<{ Body: { scaleSetId: string; reason: string } }>(
    "/v1/rollback",
    {
      config: { minRole: "oncall", rateLimit: mutationRateLimit },
      schema: {
        summary: "Roll back whatever rollout last changed this scale set",
        description:
          "Rolls back the active rollout holding the scale set or, when none is active, the newest one that left it changed (completed, or failed after changing it). " +
          "Refused with 409 when a newer rollout has since superseded it. Answers with the rollout acted on.",
        tags: ["rollback"],
        security: bearerSecurity,
        body: {
          type: "object",
          required: ["scaleSetId", "reason"],
          properties: { scaleSetId: { type: "string", minLength: 1, maxLength: 1000 }, reason: reasonSchema },
          additionalProperties: false,
        },
        response: { 200: rolloutViewSchema, ...problemResponses(400, 401, 403, 404, 409, 410, 429) },
      },
    },
    async (request) =>
      service.rollbackScaleSet(request.body.scaleSetId, callerOf(request), request.body.reason),
  );
}
