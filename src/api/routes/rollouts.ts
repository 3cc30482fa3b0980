/** Start (or dry-run) a rollout, list rollouts, read one. */
import { createHash } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { type RolloutPhase, rolloutPhases } from "../../domain/rollout-view.ts";
import { CanarydError, rolloutNotFound } from "../../engine/service/rollout-service.ts";
import { callerOf } from "../auth.ts";
import {
  bearerSecurity,
  idParamsSchema,
  planSchema,
  problemResponses,
  rolloutDetailSchema,
  rolloutSpecJsonSchema,
  rolloutViewSchema,
} from "../schemas.ts";
import { specFromRequest, yamlMediaTypes } from "../spec-body.ts";
import type { RouteDeps } from "./deps.ts";

/** Idempotency keys are per caller: two callers choosing the same key never collide. */
const scopedKey = (callerId: string, key: string) =>
  createHash("sha256").update(`${callerId}\n${key}`, "utf8").digest("hex");

export function registerRolloutRoutes(app: FastifyInstance, { service, mutationRateLimit }: RouteDeps): void {
  app.post<{ Querystring: { dryRun?: boolean }; Headers: { "idempotency-key"?: string } }>(
    "/v1/rollouts",
    {
      config: {
        minRole: "deployer",
        rateLimit: mutationRateLimit,
        // The body is checked by the domain's zod schema, not Ajv (which would strip unknown
        // fields and coerce types); the docs still show its JSON Schema.
        swaggerTransform: ({ schema, url }) => ({
          url,
          schema: {
            ...schema,
            body: {
              content: Object.fromEntries(
                ["application/json", ...yamlMediaTypes].map((t) => [t, { schema: rolloutSpecJsonSchema }]),
              ),
            },
          },
        }),
      },
      schema: {
        summary: "Start a rollout, or plan it with ?dryRun=true",
        tags: ["rollouts"],
        security: bearerSecurity,
        querystring: {
          type: "object",
          properties: {
            dryRun: { type: "boolean", default: false, description: "Answer with the plan; change nothing" },
          },
          additionalProperties: false,
        },
        headers: {
          type: "object",
          properties: {
            "idempotency-key": {
              type: "string",
              minLength: 1,
              maxLength: 200,
              description:
                "A retried start with the same key (from the same caller) returns the same rollout",
            },
          },
        },
        response: {
          200: { description: "The dry run's plan", ...planSchema },
          201: { description: "The rollout started", ...rolloutViewSchema },
          ...problemResponses(400, 401, 403, 409, 413, 429),
        },
      },
    },
    async (request, reply) => {
      const spec = specFromRequest(request);
      if (request.query.dryRun) return reply.code(200).send(await service.plan(spec));
      const caller = callerOf(request);
      const key = request.headers["idempotency-key"];
      const view = await service.start(spec, {
        actor: caller,
        ...(key ? { idempotencyKey: scopedKey(caller.id, key) } : {}),
      });
      return reply.code(201).header("location", `/v1/rollouts/${view.id}`).send(view);
    },
  );

  app.get<{ Querystring: { phase?: RolloutPhase; scaleSetId?: string; limit: number; cursor?: string } }>(
    "/v1/rollouts",
    {
      config: { minRole: "viewer" },
      schema: {
        summary: "List rollouts, newest first",
        tags: ["rollouts"],
        security: bearerSecurity,
        querystring: {
          type: "object",
          properties: {
            phase: { type: "string", enum: rolloutPhases },
            scaleSetId: { type: "string", minLength: 1, maxLength: 1000 },
            limit: { type: "integer", minimum: 1, maximum: 100, default: 20 },
            cursor: { type: "string", minLength: 1, maxLength: 500 },
          },
          additionalProperties: false,
        },
        response: {
          200: {
            type: "object",
            required: ["items"],
            properties: {
              items: { type: "array", items: rolloutViewSchema },
              nextCursor: { type: "string", description: "Pass as `cursor` for the next page" },
            },
          },
          ...problemResponses(400, 401, 403),
        },
      },
    },
    async (request) => {
      const { phase, scaleSetId, limit, cursor } = request.query;
      return service.list({
        limit,
        ...(phase ? { phase } : {}),
        ...(scaleSetId ? { scaleSetId } : {}),
        ...(cursor ? { cursor } : {}),
      });
    },
  );

  app.get<{ Params: { id: string } }>(
    "/v1/rollouts/:id",
    {
      config: { minRole: "viewer" },
      schema: {
        summary:
          "A rollout: spec, phase, progress, gate evidence, previous versions, its timeline and its dead letters " +
          "(a compacted one: its summary marked `compacted`, without timeline and dead letters)",
        tags: ["rollouts"],
        security: bearerSecurity,
        params: idParamsSchema,
        response: { 200: rolloutDetailSchema, ...problemResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { id } = request.params;
      const view = await service.get(id);
      if (!view) throw rolloutNotFound(id);
      // Compacted (retention): the summary, without timeline and dead letters (they are gone).
      if (view.compacted) return view;
      try {
        const [timeline, deadLetters] = await Promise.all([service.timeline(id), service.deadLetters(id)]);
        return { ...view, timeline, deadLetters };
      } catch (error) {
        // Compacted between the two reads.
        const compacted = error instanceof CanarydError && error.code === "ROLLOUT_COMPACTED";
        const now = compacted ? await service.get(id) : undefined;
        if (now) return now;
        throw error;
      }
    },
  );
}
