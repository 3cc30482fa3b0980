/**
 * Each role against each route: viewer reads, waits and follows; deployer also starts, approves,
 * pauses, resumes and aborts; oncall also rolls back. No token or a wrong one is 401.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildHarness, scaleSetA, validSpec } from "./api-harness.ts";
import { rank, routeTable } from "./route-table.ts";

let h: Awaited<ReturnType<typeof buildHarness>>;
beforeAll(async () => {
  h = await buildHarness();
  // A terminal rollout: events and wait answer at once, and every action is either allowed or a 409.
  await h.service.start(validSpec() as never, { actor: { id: "setup" } });
  h.service.setPhase("ro-1", "completed");
});
afterAll(async () => {
  await h.app.close();
});

describe.each(routeTable(validSpec()))("$method $url ($name)", (route) => {
  it("answers 401 without a token, with a wrong token and with a malformed header", async () => {
    for (const authorization of [undefined, "Bearer not-a-configured-token", `Basic ${h.tokens.oncall}`]) {
      const res = await h.app.inject({
        method: route.method,
        url: route.url,
        ...(route.payload ? { payload: route.payload } : {}),
        headers: authorization ? { authorization } : {},
      });
      expect(res.statusCode, String(authorization)).toBe(401);
      expect(res.headers["www-authenticate"]).toBe('Bearer realm="canaryd"');
      expect(res.json()).toMatchObject({ code: "UNAUTHORIZED", status: 401 });
    }
  });

  it.each(["viewer", "deployer", "oncall"] as const)("as %s", async (role) => {
    const res = await h.app.inject({
      method: route.method,
      url: route.url,
      headers: h.auth(role),
      ...(route.payload ? { payload: route.payload } : {}),
    });
    if (rank[role] < rank[route.minRole]) {
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ code: "FORBIDDEN", role, needed: route.minRole });
    } else {
      // Allowed: anything but an auth refusal (actions on a completed rollout may be a 409).
      expect([200, 201, 409]).toContain(res.statusCode);
    }
  });
});

describe("auth disabled by configuration", () => {
  it("lets every caller act as anonymous with the oncall role, and records that identity", async () => {
    const open = await buildHarness({ authDisabled: true });
    try {
      const start = await open.app.inject({ method: "POST", url: "/v1/rollouts", payload: validSpec() });
      expect(start.statusCode).toBe(201);
      expect(open.service.starts[0]?.actor).toEqual({ id: "anonymous", role: "oncall" });
      const rollback = await open.app.inject({
        method: "POST",
        url: "/v1/rollback",
        payload: { scaleSetId: scaleSetA, reason: "drill" },
      });
      expect(rollback.statusCode).toBe(200);
      expect(open.logLines.join("")).toContain("authentication is disabled");
    } finally {
      await open.app.close();
    }
  });
});
