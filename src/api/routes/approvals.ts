/**
 * The approved image versions catalog: POST /v1/approvals (oncall) approves a gallery image
 * version after checking it exists, is not past its end of life and replicated everywhere;
 * GET /v1/approvals (viewer) lists them; DELETE /v1/approvals/{approvalId} (oncall) revokes one
 * with a reason, kept for audit. Answers 503 when the daemon has no catalog wired.
 */
import type { FastifyInstance } from "fastify";
import { CanarydError } from "../../engine/service/rollout-service.ts";
import { callerOf } from "../auth.ts";
import { bearerSecurity, problemResponses, reasonSchema } from "../schemas.ts";
import type { RouteDeps } from "./deps.ts";

const approvalsUnavailable = () =>
  new CanarydError("APPROVALS_UNAVAILABLE", 503, "this daemon has no approved-version catalog configured");

const approvalSchema = {
  type: "object",
  additionalProperties: true,
  required: ["id", "imageVersionId", "version", "approvedBy", "approvedAt"],
  properties: {
    id: { type: "string" },
    imageVersionId: { type: "string" },
    version: { type: "string" },
    note: { type: "string" },
    expiresAt: { type: "string" },
    approvedBy: { type: "string" },
    approvedAt: { type: "string" },
    endOfLifeDate: { type: "string" },
    revoked: { type: "object", additionalProperties: true },
  },
} as const;

export function registerApprovalRoutes(
  app: FastifyInstance,
  { approvals, mutationRateLimit }: RouteDeps,
): void {
  app.post<{ Body: { imageVersionId: string; note?: string; expiresAt?: string } }>(
    "/v1/approvals",
    {
      config: { minRole: "oncall", rateLimit: mutationRateLimit },
      schema: {
        summary: "Approve a gallery image version for scale sets policy.requireApproval covers",
        tags: ["approvals"],
        security: bearerSecurity,
        body: {
          type: "object",
          required: ["imageVersionId"],
          properties: {
            imageVersionId: { type: "string", minLength: 1, maxLength: 1000 },
            note: { type: "string", maxLength: 1000 },
            expiresAt: { type: "string", format: "date-time" },
          },
          additionalProperties: false,
        },
        response: {
          201: approvalSchema,
          ...problemResponses(400, 401, 403, 429, 503),
          422: {
            description: "Refused: the version is missing, past its end of life, or failed replication",
          },
        },
      },
    },
    async (request, reply) => {
      if (!approvals) throw approvalsUnavailable();
      const approval = await approvals.approve({ ...request.body, actor: callerOf(request).id });
      return reply.code(201).header("location", `/v1/approvals/${approval.id}`).send(approval);
    },
  );

  app.get<{ Querystring: { all: boolean } }>(
    "/v1/approvals",
    {
      config: { minRole: "viewer" },
      schema: {
        summary: "Approved image versions in force (all=true: revoked and expired ones too)",
        tags: ["approvals"],
        security: bearerSecurity,
        querystring: {
          type: "object",
          properties: { all: { type: "boolean", default: false } },
          additionalProperties: false,
        },
        response: {
          200: {
            type: "object",
            required: ["items"],
            properties: { items: { type: "array", items: approvalSchema } },
          },
          ...problemResponses(400, 401, 403, 503),
        },
      },
    },
    async (request) => {
      if (!approvals) throw approvalsUnavailable();
      return { items: await approvals.list({ all: request.query.all }) };
    },
  );

  app.delete<{ Params: { approvalId: string }; Body: { reason: string } }>(
    "/v1/approvals/:approvalId",
    {
      config: { minRole: "oncall", rateLimit: mutationRateLimit },
      schema: {
        summary: "Revoke an approval, with a reason (kept for audit)",
        tags: ["approvals"],
        security: bearerSecurity,
        params: {
          type: "object",
          required: ["approvalId"],
          properties: {
            approvalId: { type: "string", minLength: 1, maxLength: 100, pattern: "^[A-Za-z0-9-]+$" },
          },
        },
        body: {
          type: "object",
          required: ["reason"],
          properties: { reason: reasonSchema },
          additionalProperties: false,
        },
        response: { 200: approvalSchema, ...problemResponses(400, 401, 403, 404, 429, 503) },
      },
    },
    async (request) => {
      if (!approvals) throw approvalsUnavailable();
      return approvals.revoke(request.params.approvalId, callerOf(request).id, request.body.reason);
    },
  );
}
