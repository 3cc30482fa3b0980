/**
 * JSON Schemas of the API's requests and responses: Fastify validates requests with them,
 * serializes responses with them, and @fastify/swagger publishes them at /docs.
 * Nested objects the engine owns (spec, gate evidence, image references) stay open
 * (`additionalProperties: true`) so a new field reaches callers without a schema change here.
 */

import { z } from "zod";
import { rolloutPhases } from "../domain/rollout-view.ts";
import { rolloutSpecSchema } from "../domain/spec.ts";
import { problemContentType } from "./problem.ts";

const openObject = { type: "object", additionalProperties: true } as const;

/** The rollout spec as users write it (defaults not yet applied), for the docs. */
export const rolloutSpecJsonSchema = z.toJSONSchema(rolloutSpecSchema, {
  io: "input",
  target: "openapi-3.0",
});

export const problemSchema = {
  type: "object",
  description: "RFC 9457 problem details",
  required: ["type", "title", "status", "detail", "code"],
  properties: {
    type: { type: "string" },
    title: { type: "string" },
    status: { type: "integer" },
    detail: { type: "string" },
    code: { type: "string", description: "Stable machine-readable error code, e.g. SCALE_SET_BUSY" },
    instance: { type: "string" },
    errors: {
      type: "array",
      items: {
        type: "object",
        required: ["path", "rule"],
        properties: { path: { type: "string" }, rule: { type: "string" } },
      },
    },
  },
  additionalProperties: true,
} as const;

const problemResponse = (description: string) => ({
  description,
  content: { [problemContentType]: { schema: problemSchema } },
});

/** The error answers a route can give, by status. */
export function problemResponses(...statuses: number[]): Record<number, ReturnType<typeof problemResponse>> {
  const descriptions: Record<number, string> = {
    400: "Invalid request: `errors[]` names each field and the rule it broke",
    401: "Missing or invalid bearer token",
    403: "The token's role does not allow this",
    404: "No such rollout",
    409: "Conflict: a scale set is held by another rollout, or the action does not apply in this phase",
    410: "Gone (ROLLOUT_COMPACTED): the rollout was compacted after retention.compactAfterSeconds; its release record remains",
    413: "Body larger than the configured limit",
    429: "Too many changes per minute",
    503: "Not ready",
  };
  return Object.fromEntries(statuses.map((s) => [s, problemResponse(descriptions[s] ?? "Error")]));
}

const gateResultSchema = {
  type: "object",
  properties: {
    gate: { type: "string" },
    verdict: { type: "string", enum: ["passed", "failed", "inconclusive"] },
    summary: { type: "string" },
    measuredAt: { type: "string" },
    instanceIds: { type: "array", items: { type: "string" } },
    evidence: openObject,
    platformFailure: { type: "boolean" },
  },
  additionalProperties: true,
} as const;

const findingSchema = {
  type: "object",
  properties: {
    scaleSetId: { type: "string" },
    region: { type: "string" },
    code: { type: "string" },
    message: { type: "string" },
  },
  additionalProperties: true,
} as const;

export const timelineEntrySchema = {
  type: "object",
  required: ["seq", "at", "actor", "type", "message"],
  properties: {
    seq: { type: "integer" },
    at: { type: "string" },
    actor: { type: "string" },
    type: { type: "string" },
    message: { type: "string" },
    data: openObject,
  },
} as const;

export const rolloutViewSchema = {
  type: "object",
  required: ["id", "name", "phase"],
  properties: {
    id: { type: "string" },
    name: { type: "string" },
    phase: { type: "string", enum: rolloutPhases },
    reason: { type: "string" },
    spec: openObject,
    targetImage: openObject,
    waves: {
      type: "array",
      items: {
        type: "object",
        properties: {
          name: { type: "string" },
          scaleSetIds: { type: "array", items: { type: "string" } },
          status: { type: "string" },
        },
        additionalProperties: true,
      },
    },
    scaleSets: {
      type: "array",
      items: {
        type: "object",
        properties: {
          id: { type: "string" },
          wave: { type: "string" },
          phase: { type: "string" },
          previousImage: openObject,
          touchedInstanceIds: { type: "array", items: { type: "string" } },
          protectedInstanceIds: { type: "array", items: { type: "string" } },
          batches: {
            type: "array",
            items: {
              type: "object",
              properties: {
                index: { type: "integer" },
                kind: { type: "string" },
                instanceIds: { type: "array", items: { type: "string" } },
                status: { type: "string" },
                gateResults: { type: "array", items: gateResultSchema },
              },
              additionalProperties: true,
            },
          },
        },
        additionalProperties: true,
      },
    },
    findings: { type: "array", items: findingSchema },
    window: {
      type: "object",
      description: "The change window of the wave about to start (with change windows configured)",
      properties: {
        wave: { type: "string" },
        status: { type: "string", enum: ["checking", "closed", "open", "skipped"] },
        closedBy: { type: "array", items: openObject },
        nextOpenAt: { type: "string" },
        skippedBy: openObject,
      },
      additionalProperties: true,
    },
    createdAt: { type: "string" },
    updatedAt: { type: "string" },
    createdBy: { type: "string" },
    revision: { type: "integer" },
    compacted: {
      type: "boolean",
      description:
        "True once retention compacted the finished rollout (retention.compactAfterSeconds after it ended): " +
        "the view is its stored summary (gate evidence dropped), the timeline and dead letters are gone, " +
        "actions answer 410 ROLLOUT_COMPACTED, the release record stays until retention.recordDays after the end",
    },
    compactedAt: { type: "string", description: "When it was compacted (engine clock)" },
  },
  additionalProperties: true,
} as const;

/** An effect the engine gave up on (src/domain/rollout-view.ts DeadLetter). */
export const deadLetterSchema = {
  type: "object",
  required: ["rolloutId", "effectId", "kind", "reason", "code", "attempts", "transient", "at"],
  properties: {
    rolloutId: { type: "string" },
    effectId: { type: "string" },
    kind: { type: "string", description: "The effect's kind (setModelImage, upgradeInstances, …)" },
    scaleSetId: { type: "string" },
    reason: { type: "string", description: "The last error, secrets redacted" },
    code: { type: "string", description: "The last error's code (AZURE_403, ECONNRESET, …)" },
    attempts: { type: "integer", description: "Attempts made, the failing one included" },
    transient: {
      type: "boolean",
      description: "True: every attempt failed transiently (attempts ran out). False: it failed permanently",
    },
    at: { type: "string" },
  },
  additionalProperties: false,
} as const;

export const rolloutDetailSchema = {
  ...rolloutViewSchema,
  properties: {
    ...rolloutViewSchema.properties,
    timeline: { type: "array", items: timelineEntrySchema },
    actions: {
      type: "object",
      description:
        "Per user action (pause, resume, approve, abort, rollback, release): whether the rollout accepts it in its phase now, and if not why. The caller's role is not considered (GET /v1/whoami).",
      additionalProperties: {
        type: "object",
        required: ["allowed"],
        properties: { allowed: { type: "boolean" }, reason: { type: "string" } },
      },
    },
    deadLetters: {
      type: "array",
      items: deadLetterSchema,
      description: "Effects given up on and never run again (permanent failure, or out of attempts)",
    },
  },
} as const;

export const planSchema = {
  type: "object",
  required: ["waves", "findings", "wouldStart"],
  properties: {
    waves: {
      type: "array",
      items: {
        type: "object",
        properties: {
          name: { type: "string" },
          scaleSets: {
            type: "array",
            items: {
              type: "object",
              properties: {
                id: { type: "string" },
                previousImage: openObject,
                batches: {
                  type: "array",
                  items: {
                    type: "object",
                    properties: {
                      kind: { type: "string" },
                      instanceIds: { type: "array", items: { type: "string" } },
                    },
                    additionalProperties: true,
                  },
                },
                protectedInstanceIds: { type: "array", items: { type: "string" } },
              },
              additionalProperties: true,
            },
          },
        },
        additionalProperties: true,
      },
    },
    findings: { type: "array", items: findingSchema },
    warnings: { type: "array", items: findingSchema, description: "Noted, not refused (end of life near)" },
    exception: { ...openObject, description: "The policy exception the spec would go ahead under" },
    wouldStart: { type: "boolean" },
  },
} as const;

export const idParamsSchema = {
  type: "object",
  required: ["id"],
  properties: { id: { type: "string", minLength: 1, maxLength: 128, pattern: "^[A-Za-z0-9._-]+$" } },
} as const;

export const reasonSchema = { type: "string", minLength: 1, maxLength: 1000 } as const;

/** Optional: a POST without a body is fine (`nullable` lets Ajv accept the absent body). */
export const actionBodySchema = {
  type: "object",
  nullable: true,
  properties: { reason: reasonSchema },
  additionalProperties: false,
} as const;

export const bearerSecurity = [{ bearerAuth: [] }];
