/**
 * The dashboard's page and assets are public on purpose (they carry no rollout data) and served
 * with a Content-Security-Policy that allows only the daemon's own scripts, styles and
 * connections; /v1/whoami tells the page which actions the caller's role may use, read from the
 * routes' own declarations.
 */
import { afterEach, describe, expect, it } from "vitest";
import { actionRoutes } from "../../../src/api/routes/whoami.ts";
import { buildHarness } from "./api-harness.ts";

let h: Awaited<ReturnType<typeof buildHarness>>;
afterEach(async () => {
  await h.app.close();
});

const assets = ["/", "/ui/app.js", "/ui/app.css", "/ui/vendor/eventsource-parser.js"];

describe("the dashboard's page and assets", () => {
  it("answer without a token, each with its type and a CSP allowing only the daemon's own scripts and styles", async () => {
    h = await buildHarness();
    for (const url of assets) {
      const res = await h.app.inject({ url });
      expect(res.statusCode, url).toBe(200);
      const csp = String(res.headers["content-security-policy"]);
      expect(csp, url).toContain("default-src 'none'");
      expect(csp, url).toContain("script-src 'self'");
      expect(csp, url).toContain("style-src 'self'");
      expect(csp, url).toContain("connect-src 'self'");
      expect(csp, url).not.toContain("unsafe-inline");
      expect(csp, url).not.toContain("https:");
    }
    expect((await h.app.inject({ url: "/" })).headers["content-type"]).toMatch(/^text\/html/);
    expect((await h.app.inject({ url: "/ui/app.js" })).headers["content-type"]).toMatch(/^text\/javascript/);
    // The vendored parser is the module the page imports, without a map it cannot serve.
    const parser = await h.app.inject({ url: "/ui/vendor/eventsource-parser.js" });
    expect(parser.body).toContain("export");
    expect(parser.body).not.toContain("sourceMappingURL");
  });

  it("are public by the list in auth.ts; an unknown asset is a 404 and the API still wants a token", async () => {
    h = await buildHarness();
    const dashboard = h.app.routeAccess.filter((r) => assets.includes(r.url));
    expect([...new Set(dashboard.map((r) => r.url))].sort()).toEqual([...assets].sort());
    expect(dashboard.every((r) => r.public && r.minRole === undefined)).toBe(true);
    // An unknown asset is a 404, not a way around auth; the API behind the page still wants a token.
    expect((await h.app.inject({ url: "/ui/other.js" })).statusCode).toBe(404);
    expect((await h.app.inject({ url: "/v1/rollouts" })).statusCode).toBe(401);
  });

  it("the page loads scripts and styles only from the daemon and holds no inline script", async () => {
    h = await buildHarness();
    const page = (await h.app.inject({ url: "/" })).body;
    const scripts = [...page.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.map((m) => m[1]?.trim())).toEqual(['type="module" src="/ui/app.js"']);
    expect(scripts.every((m) => m[2] === "")).toBe(true);
    expect(page).not.toMatch(/\sstyle=|<style/);
    // The page's code never parses text as HTML.
    const code = (await h.app.inject({ url: "/ui/app.js" })).body;
    expect(code).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  });
});

describe("GET /v1/whoami", () => {
  it("names the caller and role, and each action's least role from the routes themselves", async () => {
    h = await buildHarness();
    const deployer = await h.app.inject({ url: "/v1/whoami", headers: h.auth("deployer") });
    expect(deployer.statusCode).toBe(200);
    expect(deployer.json()).toEqual({
      id: "deployer-bot",
      role: "deployer",
      actions: {
        start: { minRole: "deployer", allowed: true },
        approve: { minRole: "deployer", allowed: true },
        pause: { minRole: "deployer", allowed: true },
        resume: { minRole: "deployer", allowed: true },
        abort: { minRole: "deployer", allowed: true },
        rollback: { minRole: "oncall", allowed: false },
        release: { minRole: "oncall", allowed: false },
        skipWindow: { minRole: "oncall", allowed: false },
        stop: { minRole: "oncall", allowed: false },
        stopClear: { minRole: "oncall", allowed: false },
      },
    });
    const viewer = (await h.app.inject({ url: "/v1/whoami", headers: h.auth("viewer") })).json();
    expect(Object.values(viewer.actions).some((a) => (a as { allowed: boolean }).allowed)).toBe(false);
    // What it reports is routeAccess: the same table the auth hook enforces.
    for (const [action, { minRole }] of Object.entries(
      deployer.json().actions as Record<string, { minRole: string }>,
    )) {
      const url = actionRoutes[action as keyof typeof actionRoutes];
      expect(h.app.routeAccess.find((r) => r.method === "POST" && r.url === url)?.minRole).toBe(minRole);
    }
  });

  it("with authentication off, answers for the anonymous on-call caller", async () => {
    h = await buildHarness({ authDisabled: true });
    const res = await h.app.inject({ url: "/v1/whoami" });
    expect(res.json()).toMatchObject({
      id: "anonymous",
      role: "oncall",
      actions: { rollback: { allowed: true } },
    });
  });
});
