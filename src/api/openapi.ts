/** The OpenAPI document (built from the routes' JSON Schemas) at /docs/json, and Swagger UI at /docs. */
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { FastifyInstance } from "fastify";

export async function registerOpenApi(app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: "3.0.3",
      info: {
        title: "canaryd",
        version,
        description:
          "Roll VM image versions across Azure scale sets: canary, gates, promotion, automatic rollback. " +
          "Errors are application/problem+json.",
      },
      components: {
        securitySchemes: {
          bearerAuth: {
            type: "http",
            scheme: "bearer",
            description: "A token from the daemon's configuration",
          },
        },
      },
      tags: [
        { name: "rollouts", description: "Start, plan, read, follow and wait" },
        { name: "actions", description: "Pause, resume, approve, abort" },
        { name: "rollback", description: "On-call's rollback" },
        { name: "health", description: "Probes and metrics" },
        { name: "auth", description: "Who the caller is and what its role may do" },
      ],
    },
  });
  await app.register(swaggerUi, {
    routePrefix: "/docs",
    staticCSP: true,
    // The API is often plain HTTP (localhost, TLS ended in front): upgrading would break the UI's assets.
    transformStaticCSP: (header) => header.replace(/\s*upgrade-insecure-requests;?/, ""),
  });
}
