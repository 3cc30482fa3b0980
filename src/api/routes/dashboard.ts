/**
 * The dashboard: one server-rendered page at `/` and its few static files under `/ui/`, read from
 * src/api/dashboard/ once at registration (no build step, no CDN: it works on a closed network).
 * These routes are on auth.ts's public list on purpose: they carry no rollout data. Everything the
 * page shows it reads from /v1 with the caller's bearer token, kept in the tab's sessionStorage.
 *
 * Invariant: the page runs only the daemon's own scripts and styles. Its Content-Security-Policy
 * (stricter than the API's default) allows `'self'` scripts, styles and connections and nothing
 * inline, so even a rendering mistake that put user text into markup could not run a script.
 * Stateless: a missing asset file fails the daemon at start (readFileSync), never a request later.
 */
import { readFileSync } from "node:fs";
import type { FastifyInstance } from "fastify";

const assetDir = new URL("../dashboard/", import.meta.url);

export const dashboardCsp = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** url → [content type, body]. eventsource-parser is the server's own dependency, served as is. */
function loadAssets(): Map<string, [string, Buffer]> {
  const file = (name: string) => readFileSync(new URL(name, assetDir));
  const parser = readFileSync(new URL(import.meta.resolve("eventsource-parser"))).toString("utf8");
  return new Map<string, [string, Buffer]>([
    ["/", ["text/html; charset=utf-8", file("index.html")]],
    ["/ui/app.js", ["text/javascript; charset=utf-8", file("app.js")]],
    ["/ui/app.css", ["text/css; charset=utf-8", file("app.css")]],
    [
      "/ui/vendor/eventsource-parser.js",
      // Drop the source-map comment: the map is not served.
      ["text/javascript; charset=utf-8", Buffer.from(parser.replace(/\/\/# sourceMappingURL=.*$/m, ""))],
    ],
  ]);
}

export function registerDashboardRoutes(app: FastifyInstance): void {
  const assets = loadAssets();
  for (const [url, [type, body]] of assets) {
    app.get(url, { schema: { hide: true } }, async (_request, reply) =>
      reply
        .header("content-security-policy", dashboardCsp)
        .header("cache-control", "no-cache")
        .type(type)
        .send(body),
    );
  }
}
