/**
 * Security of the API on a real engine and the simulator: the role matrix over every route, no
 * token / Authorization header / SAS URL in any log line or API response (captured pino output
 * is scanned), the body size limit, the rate limit on changes, security headers, and a daemon
 * that will not start without tokens unless authentication is turned off explicitly.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import type { InjectOptions, LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/api/auth.ts";
import { loadConfig } from "../../src/config/load-config.ts";
import type { Config, Role } from "../../src/config/schema.ts";
import { AuthNotConfiguredError, startDaemon } from "../../src/daemon/daemon.ts";
import { createLogger } from "../../src/logging/logger.ts";
import { redisUrl, removeKeys, testPrefix } from "../integration/engine/support/harness.ts";
import { ResultsRecorder } from "../support/reliability-rows.ts";
import { demoSpec, isTerminal, pollRollout, type Stack, startStack } from "../support/reliability-stack.ts";

const results = new ResultsRecorder("security");
const roles: Role[] = ["viewer", "deployer", "oncall"];
const tokens = Object.fromEntries(roles.map((r) => [r, randomBytes(32).toString("base64url")])) as Record<
  Role,
  string
>;
const wrongToken = randomBytes(32).toString("base64url");
const auth: Config["auth"] = {
  disabled: false,
  tokens: roles.map((role) => ({ name: `${role}-bot`, sha256: sha256Hex(tokens[role]), role })),
};
const bearer = (role: Role) => ({ authorization: `Bearer ${tokens[role]}` });

const logLines: string[] = [];
const logger = createLogger({
  level: "trace",
  format: "json",
  destination: new Writable({
    write(chunk, _encoding, callback) {
      logLines.push(String(chunk));
      callback();
    },
  }),
});
/** Every API response body this suite saw, scanned for secrets at the end. */
const bodies: string[] = [];
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    redisUrl,
    auth,
    logger,
    server: { bodyLimitBytes: 64 * 1024, mutationsPerMinute: 1_000 },
  });
});
afterAll(async () => {
  await stack?.close();
  if (stack) await removeKeys(stack.prefix);
  results.write();
});

async function call(request: InjectOptions): Promise<LightMyRequestResponse> {
  const response = await stack.api.inject(request);
  bodies.push(response.body);
  return response;
}

const rank: Record<Role, number> = { viewer: 0, deployer: 1, oncall: 2 };

function routes(): { name: string; method: "GET" | "POST"; url: string; payload?: object; minRole: Role }[] {
  const id = "ro-does-not-exist";
  return [
    { name: "list", method: "GET", url: "/v1/rollouts", minRole: "viewer" },
    { name: "get", method: "GET", url: `/v1/rollouts/${id}`, minRole: "viewer" },
    { name: "events", method: "GET", url: `/v1/rollouts/${id}/events`, minRole: "viewer" },
    { name: "wait", method: "GET", url: `/v1/rollouts/${id}/wait?timeoutSeconds=0`, minRole: "viewer" },
    {
      name: "start (dry run)",
      method: "POST",
      url: "/v1/rollouts?dryRun=true",
      payload: demoSpec(stack.fleet, "1.1.0", [["web-d"]]),
      minRole: "deployer",
    },
    ...["pause", "resume", "approve", "abort"].map((a) => ({
      name: a,
      method: "POST" as const,
      url: `/v1/rollouts/${id}/${a}`,
      payload: {},
      minRole: "deployer" as Role,
    })),
    { name: "rollback", method: "POST", url: `/v1/rollouts/${id}/rollback`, payload: {}, minRole: "oncall" },
    {
      name: "rollback by scale set",
      method: "POST",
      url: "/v1/rollback",
      payload: { scaleSetId: stack.fleet.scaleSetId("web-d"), reason: "drill" },
      minRole: "oncall",
    },
  ];
}

describe("API security on a real engine", () => {
  it("enforces the role matrix on every route: 401 without a valid token, 403 below the role, through above it", async () => {
    await results.trial(
      "auth matrix: 11 routes x (no token, wrong token, viewer, deployer, oncall)",
      55,
      async () => {
        const table = routes();
        for (const route of table) {
          const base = {
            method: route.method,
            url: route.url,
            ...(route.payload ? { payload: route.payload } : {}),
          };
          const anonymous = await call(base);
          expect(anonymous.statusCode, `${route.name} without a token`).toBe(401);
          expect(anonymous.headers["www-authenticate"]).toMatch(/^Bearer/);
          const wrong = await call({ ...base, headers: { authorization: `Bearer ${wrongToken}` } });
          expect(wrong.statusCode, `${route.name} with a wrong token`).toBe(401);
          for (const role of roles) {
            const response = await call({ ...base, headers: bearer(role) });
            if (rank[role] < rank[route.minRole]) {
              expect(response.statusCode, `${route.name} as ${role}`).toBe(403);
              expect(response.json()).toMatchObject({ code: expect.any(String) });
            } else {
              // Allowed through auth: the route's own answer (the rollout does not exist, or a plan).
              expect([200, 404, 409], `${route.name} as ${role}: ${response.body.slice(0, 200)}`).toContain(
                response.statusCode,
              );
            }
          }
        }
        for (const url of ["/healthz", "/readyz", "/metrics"])
          expect((await call({ method: "GET", url })).statusCode, url).toBe(200);
        return {
          outcome: `${table.length * 5} requests: 401/403 exactly where the matrix says; probes public`,
        };
      },
    );
  });

  it("keeps tokens, Authorization headers and SAS URLs out of every log line and response", async () => {
    await results.trial(
      "secrets scan: logs + responses over a rollout of 1.2.0 (boot diagnostics via SAS URLs)",
      1,
      async () => {
        const start = await call({
          method: "POST",
          url: "/v1/rollouts",
          headers: bearer("deployer"),
          payload: demoSpec(stack.fleet, "1.2.0", [["web-a"]]),
        });
        expect(start.statusCode, start.body).toBe(201);
        const id = start.json<{ id: string }>().id;
        const done = await pollRollout(stack.engine, id, isTerminal, 60_000);
        expect(done.phase, done.reason).toBe("rolledBack");
        // The boot logs were really read through SAS URLs, so there was something to leak.
        expect(stack.fleet.sim.requestLog({ operation: "bootDiagnostics.download" }).length).toBeGreaterThan(
          0,
        );
        await call({ method: "GET", url: `/v1/rollouts/${id}`, headers: bearer("viewer") });
        await call({ method: "GET", url: "/v1/rollouts", headers: bearer("viewer") });
        await call({
          method: "GET",
          url: `/v1/rollouts/${id}/wait?timeoutSeconds=0`,
          headers: bearer("viewer"),
        });
        await call({ method: "GET", url: "/metrics" });
        await call({
          method: "GET",
          url: "/v1/rollouts",
          headers: { authorization: `Bearer ${wrongToken}` },
        });
        await call({ method: "GET", url: "/v1/rollouts", headers: { authorization: `Basic ${wrongToken}` } });

        const secrets = [...Object.values(tokens), wrongToken, stack.fleet.sim.connection.token];
        const patterns = [
          /[?&]sig=(?!REDACTED)[^&\s"']+/i,
          /[?&]se=(?!REDACTED)\d/i,
          /Bearer\s+(?!REDACTED)[A-Za-z0-9._~+/=-]{16,}/,
        ];
        const texts = [
          ...logLines.map((l) => ["log", l] as const),
          ...bodies.map((b) => ["response", b] as const),
        ];
        for (const [where, text] of texts) {
          for (const secret of secrets)
            expect(text.includes(secret), `${where} holds a token: ${text.slice(0, 300)}`).toBe(false);
          for (const pattern of patterns) expect(text, `${where} matches ${pattern}`).not.toMatch(pattern);
        }
        expect(logLines.length).toBeGreaterThan(20);
        return {
          outcome: `${logLines.length} log lines and ${bodies.length} response bodies scanned: no token, Authorization value or SAS signature`,
        };
      },
    );
  });

  it("refuses a body over the limit with 413", async () => {
    await results.trial("body over the 64 KiB limit", 1, async () => {
      const spec = demoSpec(stack.fleet, "1.1.0", [["web-d"]]);
      const response = await call({
        method: "POST",
        url: "/v1/rollouts?dryRun=true",
        headers: bearer("deployer"),
        payload: { ...spec, labels: { pad: "x".repeat(70 * 1024) } },
      });
      expect(response.statusCode).toBe(413);
      expect(response.json()).toMatchObject({ code: expect.any(String), detail: expect.any(String) });
      return { outcome: `413 ${response.json<{ code: string }>().code}` };
    });
  });

  it("sends security headers on answers, refusals and probes", async () => {
    await results.trial("security headers on 200, 401, 403, 404 and /healthz", 5, async () => {
      const answers = [
        await call({ method: "GET", url: "/v1/rollouts", headers: bearer("viewer") }),
        await call({ method: "GET", url: "/v1/rollouts" }),
        await call({
          method: "POST",
          url: "/v1/rollouts/ro-none/rollback",
          headers: bearer("viewer"),
          payload: {},
        }),
        await call({ method: "GET", url: "/v1/rollouts/ro-none", headers: bearer("viewer") }),
        await call({ method: "GET", url: "/healthz" }),
      ];
      const labels = [
        "200 list",
        "401 no token",
        "403 below the role",
        "404 unknown rollout",
        "200 /healthz",
      ];
      answers.forEach((response, i) => {
        const label = `${labels[i]} (${response.statusCode})`;
        // Soft: each missing header on each answer is reported, not only the first.
        expect.soft(response.headers["x-content-type-options"], label).toBe("nosniff");
        expect.soft(response.headers["x-frame-options"], label).toBeDefined();
        expect.soft(response.headers["content-security-policy"], label).toBeDefined();
        expect.soft(response.headers["referrer-policy"], label).toBeDefined();
        expect.soft(response.headers["x-powered-by"], label).toBeUndefined();
      });
      const missing = answers
        .map((response, i) =>
          response.headers["x-content-type-options"] === "nosniff" ? undefined : labels[i],
        )
        .filter(Boolean);
      return {
        outcome:
          missing.length === 0
            ? "nosniff, frame options, CSP, referrer policy on every answer; no x-powered-by"
            : `MISSING on ${missing.join(", ")}: no security headers (auth refuses before helmet's hook runs); present on the others`,
      };
    });
  });
});

describe("rate limit on changes", () => {
  it("answers 429 past the per-caller limit on mutating routes, leaving reads alone", async () => {
    await results.trial("rate limit: 5 changes per minute per caller", 1, async () => {
      const limited = await startStack({
        redisUrl,
        auth,
        logger,
        fleet: stack.fleet,
        server: { mutationsPerMinute: 5 },
      });
      try {
        const post = () =>
          limited.api.inject({
            method: "POST",
            url: "/v1/rollouts?dryRun=true",
            headers: bearer("deployer"),
            payload: demoSpec(stack.fleet, "1.1.0", [["web-d"]]),
          });
        const statuses: number[] = [];
        for (let i = 0; i < 6; i++) statuses.push((await post()).statusCode);
        expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
        expect(statuses[5]).toBe(429);
        const refused = await post();
        expect(refused.headers["retry-after"]).toBeDefined();
        expect(refused.json()).toMatchObject({ code: expect.any(String) });
        // Another caller has a budget of its own; reads are not limited.
        const other = await limited.api.inject({
          method: "POST",
          url: "/v1/rollouts/ro-none/rollback",
          headers: bearer("oncall"),
          payload: {},
        });
        expect(other.statusCode).toBe(404);
        for (let i = 0; i < 10; i++)
          expect(
            (await limited.api.inject({ method: "GET", url: "/v1/rollouts", headers: bearer("deployer") }))
              .statusCode,
          ).toBe(200);
        return {
          outcome: `6th change in a minute: 429 with Retry-After ${refused.headers["retry-after"]}; other callers and reads unaffected`,
        };
      } finally {
        await limited.close();
        await removeKeys(limited.prefix);
      }
    });
  });
});

describe("the daemon and authentication", () => {
  const base = (): Config => {
    const config = loadConfig({ env: {} });
    return {
      ...config,
      redis: { ...config.redis, url: redisUrl, keyPrefix: testPrefix() },
      server: { ...config.server, port: 0 },
      log: { level: "silent", format: "json" },
    };
  };

  it("refuses to start without tokens unless authentication is turned off explicitly", async () => {
    await results.trial("daemon start without tokens; with CANARYD_AUTH_DISABLED=true", 2, async () => {
      const dir = await mkdtemp(join(tmpdir(), "canaryd-auth-"));
      try {
        const refused = await startDaemon({ config: base(), logger, varDir: dir }).then(
          async (daemon) => {
            await daemon.close();
            return undefined;
          },
          (e: unknown) => e,
        );
        expect(refused).toBeInstanceOf(AuthNotConfiguredError);
        expect(refused).toMatchObject({ code: "AUTH_NOT_CONFIGURED" });

        const explicit = loadConfig({ env: { CANARYD_AUTH_DISABLED: "true" } });
        expect(explicit.auth.disabled).toBe(true);
        const config = { ...base(), auth: explicit.auth };
        const daemon = await startDaemon({
          config,
          logger,
          varDir: dir,
          simulateScenario: "config/simulator/demo.yaml",
        });
        try {
          const response = await fetch(`${daemon.url}/v1/rollouts`);
          expect(response.status).toBe(200);
          expect(logLines.some((l) => l.includes("authentication is disabled"))).toBe(true);
        } finally {
          await daemon.close();
          await removeKeys(config.redis.keyPrefix);
        }
        return {
          outcome:
            "refused with AUTH_NOT_CONFIGURED; started (and warned) only with auth.disabled set explicitly",
        };
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});
