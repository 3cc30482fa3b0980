/**
 * Bearer-token authentication and role checks. Tokens are configured as SHA-256 hex digests: the
 * daemon never holds a token itself. A presented token is hashed and compared with every
 * configured digest in constant time, so timing reveals neither which digest matched nor how much.
 *
 * Deny by default: a route is callable only if it declares `config.minRole`, or if its URL is on
 * the short public list (probes, the metrics scraper, the API docs, the dashboard's static page and
 * assets, which hold no data: everything they show comes from /v1 with the caller's token). A route that does neither is
 * refused to every caller (403 ROUTE_NOT_DECLARED), and `app.routeAccess` lists every registered
 * route with what it declared, so a test can walk them all.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Config, Role } from "../config/schema.ts";
import type { Actor } from "../domain/effects.ts";
import { forbidden, routeNotDeclared, unauthorized } from "./problem.ts";

/** The caller as the engine records it: a token's name (or `anonymous`) and its role. */
export type Caller = Actor & { role: Role };

declare module "fastify" {
  interface FastifyRequest {
    caller: Caller | null;
  }
  interface FastifyContextConfig {
    /** The least role a route needs; a route without it is denied unless it is public (publicRoute). */
    minRole?: Role;
  }
  interface FastifyInstance {
    /** Every route registered since registerAuth, with the role it declared. */
    routeAccess: RouteAccess[];
  }
}

export interface RouteAccess {
  method: string;
  url: string;
  minRole?: Role;
  public: boolean;
}

/**
 * The only routes callable without a token: liveness, readiness, metrics, the API docs, and the
 * dashboard's page (`/`) and static assets (`/ui/…`), which carry no rollout data.
 */
const publicPaths = new Set(["/healthz", "/readyz", "/metrics", "/"]);
const publicPrefixes = ["/docs", "/ui"];

export function publicRoute(url: string): boolean {
  return publicPaths.has(url) || publicPrefixes.some((p) => url === p || url.startsWith(`${p}/`));
}

const roleRank: Record<Role, number> = { viewer: 0, deployer: 1, oncall: 2 };

export const roleAllows = (role: Role, needed: Role) => roleRank[role] >= roleRank[needed];

export const anonymousCaller: Caller = { id: "anonymous", role: "oncall" };

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

export type Authenticate = (authorization: string | undefined) => Caller;

export function createAuthenticator(auth: Config["auth"]): Authenticate {
  if (auth.disabled) return () => anonymousCaller;
  const known = auth.tokens.map((t) => ({
    digest: Buffer.from(t.sha256, "hex"),
    caller: { id: t.name, role: t.role },
  }));
  return (authorization) => {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? "");
    if (!match?.[1]) throw unauthorized("send Authorization: Bearer <token>");
    const presented = createHash("sha256").update(match[1], "utf8").digest();
    let found: Caller | undefined;
    for (const entry of known) {
      // No early exit: every digest is compared whatever matched before.
      if (timingSafeEqual(presented, entry.digest) && !found) found = entry.caller;
    }
    if (!found) throw unauthorized("the bearer token is not valid");
    return found;
  };
}

/**
 * Checks the role of every route that declares `config.minRole`, lets public routes through and
 * denies the rest; sets `request.caller`. Register it before any route.
 */
export function registerAuth(app: FastifyInstance, auth: Config["auth"]): void {
  const authenticate = createAuthenticator(auth);
  app.decorateRequest("caller", null);
  const access: RouteAccess[] = [];
  app.decorate("routeAccess", access);
  app.addHook("onRoute", (route) => {
    const minRole = route.config?.minRole;
    for (const method of [route.method].flat())
      access.push({
        method,
        url: route.url,
        ...(minRole ? { minRole } : {}),
        public: publicRoute(route.url),
      });
  });
  app.addHook("onRequest", async (request: FastifyRequest) => {
    const needed = request.routeOptions.config.minRole;
    const url = request.routeOptions.url;
    // No route matched (the 404 handler), or a public one.
    if (!needed && (url === undefined || publicRoute(url))) return;
    const caller = authenticate(request.headers.authorization);
    if (!needed) throw routeNotDeclared(url ?? request.url);
    if (!roleAllows(caller.role, needed)) throw forbidden(caller.id, caller.role, needed);
    request.caller = caller;
  });
}

/** The caller of a route that declared `minRole` (the auth hook guarantees it is set). */
export function callerOf(request: FastifyRequest): Caller {
  if (!request.caller) throw new Error(`route ${request.routeOptions.url} has no minRole but needs a caller`);
  return request.caller;
}
