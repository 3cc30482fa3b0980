/**
 * GET /v1/inventory (viewer): which image version runs where, with findings (unpinned models,
 * drift, end of life, unapproved versions in production). Read-only; the daemon's
 * InventoryService (src/inventory/) reads Azure and caches; answers 503 when none is wired.
 */
import type { FastifyInstance } from "fastify";
import { type InventorySource, inventorySources } from "../../domain/inventory.ts";
import { CanarydError } from "../../engine/service/rollout-service.ts";
import { bearerSecurity, problemResponses } from "../schemas.ts";
import type { RouteDeps } from "./deps.ts";

export const inventoryUnavailable = () =>
  new CanarydError("INVENTORY_UNAVAILABLE", 503, "this daemon has no inventory source configured");

const resourceGroupWithoutSubscription = () =>
  new CanarydError("INVENTORY_SCOPE_INVALID", 400, "resourceGroup needs subscriptionId");

const inventorySchema = {
  type: "object",
  additionalProperties: true,
  required: ["generatedAt", "source", "scaleSets", "images", "findings"],
  description: "scaleSets[], images[] and findings[]: see docs/inventory.md",
} as const;

export function registerInventoryRoutes(app: FastifyInstance, { inventory }: RouteDeps): void {
  app.get<{
    Querystring: {
      subscriptionId?: string;
      resourceGroup?: string;
      refresh: boolean;
      source?: InventorySource;
    };
  }>(
    "/v1/inventory",
    {
      config: { minRole: "viewer" },
      schema: {
        summary: "Which image version runs on every scale set and instance of a scope, with findings",
        tags: ["inventory"],
        security: bearerSecurity,
        querystring: {
          type: "object",
          properties: {
            subscriptionId: { type: "string", minLength: 1, maxLength: 100, pattern: "^[A-Za-z0-9-]+$" },
            resourceGroup: { type: "string", minLength: 1, maxLength: 90, pattern: "^[-\\w._()]+$" },
            refresh: { type: "boolean", default: false, description: "Read Azure again, not the cache" },
            source: {
              type: "string",
              enum: [...inventorySources],
              description: "Read from Resource Manager or Resource Graph (default: inventory.source)",
            },
          },
          additionalProperties: false,
        },
        response: { 200: inventorySchema, ...problemResponses(400, 401, 403, 503) },
      },
    },
    async (request) => {
      if (!inventory) throw inventoryUnavailable();
      const { subscriptionId, resourceGroup, refresh, source } = request.query;
      if (resourceGroup && !subscriptionId) throw resourceGroupWithoutSubscription();
      return inventory.inventory({
        refresh,
        ...(source ? { source } : {}),
        ...(subscriptionId ? { scope: { subscriptionId, ...(resourceGroup ? { resourceGroup } : {}) } } : {}),
      });
    },
  );
}
