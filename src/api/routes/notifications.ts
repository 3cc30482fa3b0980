/**
 * GET /v1/notifications/deadletters (viewer): notifications given up on (a permanent refusal, or
 * retries past `notifications.maxRetrySeconds`), oldest first. Carries ids, trigger, subscription
 * and the last error, never a secret, URL or payload. Empty when no subscription is configured.
 */
import type { FastifyInstance } from "fastify";
import { bearerSecurity, problemResponses } from "../schemas.ts";
import type { RouteDeps } from "./deps.ts";

const letterSchema = {
  type: "object",
  additionalProperties: false,
  required: [
    "id",
    "eventId",
    "subscription",
    "service",
    "trigger",
    "rolloutId",
    "attempts",
    "reason",
    "createdAt",
    "at",
  ],
  properties: {
    id: { type: "string", description: "The idempotency key: <eventId>.<subscription>" },
    eventId: { type: "string" },
    subscription: { type: "string" },
    service: { type: "string" },
    trigger: { type: "string" },
    rolloutId: { type: "string" },
    attempts: { type: "integer" },
    reason: { type: "string" },
    createdAt: { type: "string" },
    at: { type: "string" },
  },
} as const;

export function registerNotificationRoutes(app: FastifyInstance, { notifications }: RouteDeps): void {
  app.get(
    "/v1/notifications/deadletters",
    {
      config: { minRole: "viewer" },
      schema: {
        summary: "Notifications given up on (dead letters), oldest first",
        tags: ["notifications"],
        security: bearerSecurity,
        response: {
          200: {
            type: "object",
            required: ["items"],
            properties: { items: { type: "array", items: letterSchema } },
          },
          ...problemResponses(401, 403, 503),
        },
      },
    },
    async () => ({ items: notifications ? await notifications.deadLetters() : [] }),
  );
}
