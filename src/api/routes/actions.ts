/**
 * What a deployer does to a running rollout: pause, resume, approve, abort; and on-call's
 * skip-window, which starts a wave a closed change window holds (reason required, recorded).
 * Pause: nothing new starts from any path (no model write, batch, gate run, bake or promotion)
 * until resume; effects already in flight finish and still report into the timeline.
 */
import type { FastifyInstance } from "fastify";
import type { RolloutAction } from "../../engine/service/rollout-service.ts";
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

const summaries: Record<Exclude<RolloutAction, "rollback" | "release" | "skipWindow">, string> = {
  pause:
    "Pause the rollout: nothing new starts from any path until resume; steps in flight finish and report",
  resume: "Resume a paused rollout",
  approve: "Approve the rollout waiting for approval",
  abort: "Stop the rollout and roll back what it changed",
};

export function registerActionRoutes(app: FastifyInstance, { service, mutationRateLimit }: RouteDeps): void {
  for (const action of ["pause", "resume", "approve", "abort"] as const) {
    app.post<{ Params: { id: string }; Body: { reason?: string } | undefined }>(
      `/v1/rollouts/:id/${action}`,
      {
        config: { minRole: "deployer", rateLimit: mutationRateLimit },
        schema: {
          summary: summaries[action],
          description: "The caller's identity and reason go into the rollout's timeline.",
          tags: ["actions"],
          security: bearerSecurity,
          params: idParamsSchema,
          body: actionBodySchema,
          response: { 200: rolloutViewSchema, ...problemResponses(400, 401, 403, 404, 409, 410, 429) },
        },
      },
      async (request) => service.act(request.params.id, action, callerOf(request), request.body?.reason),
    );
  }

  app.post<{ Params: { id: string }; Body: { reason: string } }>(
    "/v1/rollouts/:id/skip-window",
    {
      config: { minRole: "oncall", rateLimit: mutationRateLimit },
      schema: {
        summary: "Start the wave a closed change window holds",
        description:
          "Only while the rollout is `waitingForWindow`. The reason (required) and the caller go into the " +
          "timeline (`window.skipped`) with what closed the window. Later waves check their windows again.",
        tags: ["actions"],
        security: bearerSecurity,
        params: idParamsSchema,
        body: {
          type: "object",
          required: ["reason"],
          properties: { reason: reasonSchema },
          additionalProperties: false,
        },
        response: { 200: rolloutViewSchema, ...problemResponses(400, 401, 403, 404, 409, 429) },
      },
    },
    async (request) => service.act(request.params.id, "skipWindow", callerOf(request), request.body.reason),
  );
}
