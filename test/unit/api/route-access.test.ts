/**
 * Deny by default: every route the API registers either declares the least role it needs or is on
 * the short public list; a route that does neither is refused to every caller.
 */
import Fastify from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { publicRoute, registerAuth, sha256Hex } from "../../../src/api/auth.ts";
import { registerProblemHandlers } from "../../../src/api/problem.ts";
import { buildHarness } from "./api-harness.ts";
import { routeTable } from "./route-table.ts";

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

describe("every route the API registers", () => {
  it("declares a role or is on the public list (health, readiness, metrics, docs, the dashboard's page and assets)", async () => {
    const h = await buildHarness();
    closers.push(() => h.app.close());
    const routes = h.app.routeAccess;

    const undeclared = routes.filter((r) => r.minRole === undefined && !r.public);
    expect(undeclared).toEqual([]);
    const publicUrls = [...new Set(routes.filter((r) => r.public).map((r) => r.url))];
    expect(
      publicUrls.every(
        (url) => ["/healthz", "/readyz", "/metrics", "/"].includes(url) || /^\/(docs|ui)(\/|$)/.test(url),
      ),
    ).toBe(true);
    // The walk saw the real routes: every /v1 route of the role matrix, each with its declared role.
    for (const route of routeTable({})) {
      const path = route.url.split("?")[0]?.replace("ro-1", ":id").replace("ap-1", ":approvalId");
      expect(
        routes.find((r) => r.method === route.method && r.url === path),
        `${route.method} ${path}`,
      ).toMatchObject({ minRole: route.minRole, public: false });
    }
  });
});

describe("a route that forgets its role", () => {
  async function appWith(disabled: boolean) {
    const app = Fastify();
    closers.push(() => app.close());
    registerProblemHandlers(app);
    registerAuth(app, {
      disabled,
      tokens: [{ name: "pager", sha256: sha256Hex("oncall-token-0123456789abcdef"), role: "oncall" }],
    });
    app.get("/v1/forgotten", async () => ({ secret: "inside" }));
    app.get("/healthz", async () => ({ status: "ok" }));
    await app.ready();
    return app;
  }

  it("is denied to every caller, the most privileged and an unauthenticated demo alike", async () => {
    const app = await appWith(false);
    const anonymous = await app.inject({ url: "/v1/forgotten" });
    expect(anonymous.statusCode).toBe(401);
    const oncall = await app.inject({
      url: "/v1/forgotten",
      headers: { authorization: "Bearer oncall-token-0123456789abcdef" },
    });
    expect(oncall.statusCode).toBe(403);
    expect(oncall.json()).toMatchObject({ code: "ROUTE_NOT_DECLARED" });
    expect(app.routeAccess).toContainEqual({ method: "GET", url: "/v1/forgotten", public: false });
    // The public list still answers without a token.
    expect((await app.inject({ url: "/healthz" })).statusCode).toBe(200);

    const demo = await appWith(true);
    expect((await demo.inject({ url: "/v1/forgotten" })).statusCode).toBe(403);
  });

  it("is not public because its path merely starts like a public one", () => {
    expect(publicRoute("/docs")).toBe(true);
    expect(publicRoute("/docs/json")).toBe(true);
    expect(publicRoute("/docsx")).toBe(false);
    expect(publicRoute("/metrics/extra")).toBe(false);
    expect(publicRoute("/ui/app.js")).toBe(true);
    expect(publicRoute("/uix")).toBe(false);
    expect(publicRoute("/v1")).toBe(false);
  });
});
