/**
 * GET /v1/rollouts/:id/wait: a long-poll a pipeline can repeat. It reads the rollout from the
 * store each time, so a call made after a daemon restart answers just as well.
 */
import type { FastifyInstance } from "fastify";
import { terminalPhases } from "../../domain/rollout-view.ts";
import { rolloutNotFound } from "../../engine/service/rollout-service.ts";
import { bearerSecurity, idParamsSchema, problemResponses, rolloutViewSchema } from "../schemas.ts";
import type { RouteDeps } from "./deps.ts";

export interface WaitRouteOptions {
  /** The longest single long-poll; clients repeat the call for longer waits. */
  maxWaitSeconds: number;
}

export function registerWaitRoutes(
  app: FastifyInstance,
  { service }: RouteDeps,
  options: WaitRouteOptions,
): void {
  app.get<{ Params: { id: string }; Querystring: { timeoutSeconds: number } }>(
    "/v1/rollouts/:id/wait",
    {
      config: { minRole: "viewer" },
      schema: {
        summary: "Wait until the rollout is terminal (long-poll)",
        description:
          "200 with the rollout once terminal; 202 with its current state when the timeout passes first.",
        tags: ["rollouts"],
        security: bearerSecurity,
        params: idParamsSchema,
        querystring: {
          type: "object",
          properties: {
            timeoutSeconds: { type: "integer", minimum: 0, maximum: options.maxWaitSeconds, default: 30 },
          },
          additionalProperties: false,
        },
        response: {
          200: { description: "The rollout is terminal", ...rolloutViewSchema },
          202: { description: "Not terminal yet: call again", ...rolloutViewSchema },
          ...problemResponses(400, 401, 403, 404),
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      if (!(await service.get(id))) throw rolloutNotFound(id);
      const gone = new AbortController();
      const onClose = () => gone.abort();
      reply.raw.on("close", onClose);
      try {
        const view = await service.waitForTerminal(id, request.query.timeoutSeconds * 1000, gone.signal);
        return reply.code(terminalPhases.has(view.phase) ? 200 : 202).send(view);
      } finally {
        reply.raw.off("close", onClose);
      }
    },
  );
}
