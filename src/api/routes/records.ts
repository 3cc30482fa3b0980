/**
 * Release records: one rollout's record (JSON, or Markdown with `Accept: text/markdown`), and the
 * records of every rollout that ended since a time as NDJSON for shipping to long-term storage.
 * Read-only, computed from the stored view and timeline (src/domain/release-record.ts).
 */
import { Readable } from "node:stream";
import type { FastifyInstance } from "fastify";
import { buildReleaseRecord, type ReleaseRecord } from "../../domain/release-record.ts";
import { renderReleaseRecordMarkdown } from "../../domain/release-record-markdown.ts";
import { type RolloutView, terminalPhases } from "../../domain/rollout-view.ts";
import { CanarydError, type RolloutService, rolloutNotFound } from "../../engine/service/rollout-service.ts";
import { bearerSecurity, idParamsSchema, problemResponses } from "../schemas.ts";
import type { RouteDeps } from "./deps.ts";

const markdownType = "text/markdown; charset=utf-8";
const ndjsonType = "application/x-ndjson";
const recordSchema = {
  type: "object",
  additionalProperties: true,
  description: "The release record (schema canaryd.release-record/v1): see docs/records.md",
} as const;

const invalidSince = (since: string) =>
  new CanarydError("INVALID_SINCE", 400, `since must be an ISO 8601 time, got ${JSON.stringify(since)}`, {
    since,
  });

/** The record of one stored rollout, or undefined when there is none. */
export async function recordOf(service: RolloutService, id: string): Promise<ReleaseRecord | undefined> {
  const view = await service.get(id);
  return view && recordOfView(service, view);
}

/**
 * Built from the view and timeline, or, once retention compacted the rollout, the record it stored
 * then (built the same way from the same state, so the same record).
 */
async function recordOfView(service: RolloutService, view: RolloutView): Promise<ReleaseRecord | undefined> {
  if (view.compacted) return service.compactedRecord(view.id);
  try {
    return buildReleaseRecord(view, await service.timeline(view.id));
  } catch (error) {
    // Compacted between the two reads.
    if (error instanceof CanarydError && error.code === "ROLLOUT_COMPACTED")
      return service.compactedRecord(view.id);
    throw error;
  }
}

/** Every terminal rollout last changed at or after `since` (a superset of those ended since then). */
async function finishedSince(service: RolloutService, since: number): Promise<RolloutView[]> {
  const views: RolloutView[] = [];
  for (const phase of terminalPhases) {
    let cursor: string | undefined;
    do {
      const page = await service.list({ phase, limit: 100, ...(cursor ? { cursor } : {}) });
      for (const view of page.items) if (Date.parse(view.updatedAt) >= since) views.push(view);
      cursor = page.nextCursor;
    } while (cursor);
  }
  return views;
}

export function registerRecordRoutes(app: FastifyInstance, { service }: RouteDeps): void {
  app.get<{ Params: { id: string } }>(
    "/v1/rollouts/:id/record",
    {
      config: { minRole: "viewer" },
      schema: {
        summary:
          "The release record: image, previous versions, actions, gate verdicts, outcome (JSON, or Markdown with Accept: text/markdown)",
        tags: ["records"],
        security: bearerSecurity,
        params: idParamsSchema,
        response: { 200: recordSchema, ...problemResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const record = await recordOf(service, request.params.id);
      if (!record) throw rolloutNotFound(request.params.id);
      if (wantsMarkdown(request.headers.accept))
        return reply.type(markdownType).send(renderReleaseRecordMarkdown(record));
      return record;
    },
  );

  app.get<{ Querystring: { since: string } }>(
    "/v1/records",
    {
      config: { minRole: "viewer" },
      schema: {
        summary: "Records of every rollout that ended at or after `since`, oldest end first, as NDJSON",
        tags: ["records"],
        security: bearerSecurity,
        querystring: {
          type: "object",
          required: ["since"],
          properties: { since: { type: "string", minLength: 1, maxLength: 64 } },
          additionalProperties: false,
        },
        response: {
          200: {
            description: "One release record per line",
            content: { [ndjsonType]: { schema: recordSchema } },
          },
          ...problemResponses(400, 401, 403),
        },
      },
    },
    async (request, reply) => {
      const since = Date.parse(request.query.since);
      if (Number.isNaN(since)) throw invalidSince(request.query.since);
      const views = await finishedSince(service, since);
      async function* lines() {
        const records: ReleaseRecord[] = [];
        for (const view of views) {
          const record = await recordOfView(service, view);
          if (record?.endedAt && Date.parse(record.endedAt) >= since) records.push(record);
        }
        records.sort((a, b) => (a.endedAt ?? "").localeCompare(b.endedAt ?? ""));
        for (const record of records) yield `${JSON.stringify(record)}\n`;
      }
      return reply.type(ndjsonType).send(Readable.from(lines()));
    },
  );
}

/** Markdown only when asked for it by name; any other Accept (a browser, a wildcard) gets JSON. */
function wantsMarkdown(accept: string | undefined): boolean {
  return (accept ?? "").split(",").some((part) => part.trim().toLowerCase().startsWith("text/markdown"));
}
