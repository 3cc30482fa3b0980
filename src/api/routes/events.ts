/** GET /v1/rollouts/:id/events: the timeline as Server-Sent Events, resumable with Last-Event-ID. */
import type { FastifyInstance } from "fastify";
import { rolloutCompacted, rolloutNotFound } from "../../engine/service/rollout-service.ts";
import { bearerSecurity, idParamsSchema, problemResponses } from "../schemas.ts";
import { streamTimeline } from "../timeline-stream.ts";
import type { RouteDeps } from "./deps.ts";

export interface EventsRouteOptions {
  /** A comment line this often keeps proxies from closing an idle stream. */
  heartbeatMs: number;
}

export function registerEventRoutes(
  app: FastifyInstance,
  { service }: RouteDeps,
  options: EventsRouteOptions,
): void {
  const open = new Set<() => void>();
  // Streams never end on their own while a rollout runs: close them so shutdown does not wait.
  app.addHook("preClose", async () => {
    for (const close of open) close();
  });

  app.get<{ Params: { id: string }; Headers: { "last-event-id"?: string } }>(
    "/v1/rollouts/:id/events",
    {
      config: { minRole: "viewer" },
      schema: {
        summary: "Follow the rollout's timeline (Server-Sent Events)",
        description:
          "Each `timeline` event carries one entry; its id is the entry's seq. Reconnect with `Last-Event-ID` " +
          "to resume. An `end` event follows the last entry once the rollout is terminal. Comment lines are heartbeats. " +
          "A compacted rollout (retention) answers 410 ROLLOUT_COMPACTED: its timeline is gone, its release record remains.",
        tags: ["rollouts"],
        security: bearerSecurity,
        params: idParamsSchema,
        headers: {
          type: "object",
          properties: { "last-event-id": { type: "string", pattern: "^[0-9]{1,15}$" } },
        },
        produces: ["text/event-stream"],
        response: {
          200: {
            description: "An event stream",
            content: { "text/event-stream": { schema: { type: "string" } } },
          },
          ...problemResponses(400, 401, 403, 404, 410),
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const view = await service.get(id);
      if (!view) throw rolloutNotFound(id);
      if (view.compacted) throw rolloutCompacted(id, view.compactedAt ?? "", "its timeline was deleted");
      const lastEventId = request.headers["last-event-id"];
      reply.hijack();
      // Hijacked replies skip Fastify's header flush: carry over what hooks set (helmet's headers).
      for (const [name, value] of Object.entries(reply.getHeaders())) {
        if (value !== undefined) reply.raw.setHeader(name, value);
      }
      reply.raw.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache, no-transform",
        "x-accel-buffering": "no",
      });
      reply.raw.write("retry: 2000\n\n");
      const stream = streamTimeline({
        service,
        rolloutId: id,
        ...(lastEventId !== undefined ? { afterSeq: Number(lastEventId) } : {}),
        response: reply.raw,
        heartbeatMs: options.heartbeatMs,
        log: request.log,
      });
      open.add(stream.close);
      await stream.done;
      open.delete(stream.close);
    },
  );
}
