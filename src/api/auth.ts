/**
 * Bearer-token authentication and role checks. Tokens are configured as SHA-256 hex digests: the
 * daemon never holds a token itself. A presented token is hashed and compared with every
 * configured digest in constant time, so timing reveals neither which digest matched nor how much.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Config, Role } from "../config/schema.ts";
import type { Actor } from "../domain/effects.ts";
import { forbidden, unauthorized } from "./problem.ts";

/** The caller as the engine records it: a token's name (or `anonymous`) and its role. */
export type Caller = Actor & { role: Role };

declare module "fastify" {
  interface FastifyRequest {
    caller: Caller | null;
  }
  interface FastifyContextConfig {
    /** The least role a route needs; routes without it are public (health, metrics, docs). */
    minRole?: Role;
  }
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

/** Checks every route that declares `config.minRole`; sets `request.caller`. */
export function registerAuth(app: FastifyInstance, auth: Config["auth"]): void {
  const authenticate = createAuthenticator(auth);
  app.decorateRequest("caller", null);
  app.addHook("onRequest", async (request: FastifyRequest) => {
    const needed = request.routeOptions.config.minRole;
    if (!needed) return;
    const caller = authenticate(request.headers.authorization);
    if (!roleAllows(caller.role, needed)) throw forbidden(caller.id, caller.role, needed);
    request.caller = caller;
  });
}

/** The caller of a route that declared `minRole` (the auth hook guarantees it is set). */
export function callerOf(request: FastifyRequest): Caller {
  if (!request.caller) throw new Error(`route ${request.routeOptions.url} has no minRole but needs a caller`);
  return request.caller;
}
