/** Liveness, readiness and Prometheus metrics: public, for probes and scrapers (no secrets in them). */
import type { FastifyInstance } from "fastify";
import type { CanarydMetrics } from "../metrics.ts";
import type { RouteDeps } from "./deps.ts";

const readinessSchema = {
  type: "object",
  required: ["ready", "checks"],
  properties: {
    ready: { type: "boolean" },
    checks: { type: "object", additionalProperties: { type: "boolean" } },
  },
} as const;

export function registerHealthRoutes(
  app: FastifyInstance,
  { service }: RouteDeps,
  metrics: CanarydMetrics,
): void {
  app.get(
    "/healthz",
    {
      schema: {
        summary: "The process is up",
        tags: ["health"],
        response: { 200: { type: "object", properties: { status: { type: "string", enum: ["ok"] } } } },
      },
    },
    async () => ({ status: "ok" }),
  );

  app.get(
    "/readyz",
    {
      schema: {
        summary: "Redis answers and the workers run",
        tags: ["health"],
        response: { 200: readinessSchema, 503: readinessSchema },
      },
    },
    async (_request, reply) => {
      const readiness = await service.ready().catch(() => ({ ready: false, checks: { service: false } }));
      return reply.code(readiness.ready ? 200 : 503).send(readiness);
    },
  );

  app.get(
    "/metrics",
    {
      schema: {
        summary: "Prometheus metrics",
        tags: ["health"],
        produces: ["text/plain"],
        response: { 200: { description: "Prometheus text exposition format", type: "string" } },
      },
    },
    async (_request, reply) =>
      reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
}
