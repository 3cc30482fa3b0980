/**
 * Each role against each route: viewer reads, waits and follows; deployer also starts, approves,
 * pauses, resumes and aborts; oncall also rolls back. No token or a wrong one is 401. Every call is
 * made on a rollout in a phase where its action is valid, so an allowed role must get a 2xx and the
 * handler must have acted (a 409 would hide a handler that never ran); a refused role must leave
 * no action behind.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RolloutPhase } from "../../../src/domain/rollout-view.ts";
import { buildHarness, scaleSetA, validSpec } from "./api-harness.ts";
import { type RouteCase, rank, routeTable } from "./route-table.ts";

let h: Awaited<ReturnType<typeof buildHarness>>;
beforeAll(async () => {
  h = await buildHarness();
  // A terminal rollout for the reads: events and wait answer at once.
  await h.service.start(validSpec() as never, { actor: { id: "setup" } });
  h.service.setPhase("ro-1", "completed");
});

/** The phase in which each action is valid. */
const validPhase: Record<string, RolloutPhase> = {
  pause: "canary",
  resume: "paused",
  approve: "awaitingApproval",
  abort: "canary",
  rollback: "completed",
  "rollback by scale set": "completed",
  skipWindow: "waitingForWindow",
};

let fixtures = 0;
/** A fresh rollout on a scale set of its own, in the phase where the route's action is valid. */
async function fixtureFor(route: RouteCase): Promise<RouteCase> {
  const phase = validPhase[route.name];
  if (!phase) return route;
  fixtures += 1;
  const scaleSetId = `${scaleSetA}-fixture-${fixtures}`;
  const view = await h.service.start(validSpec([scaleSetId]) as never, { actor: { id: "setup" } });
  h.service.setPhase(view.id, phase);
  return routeTable(validSpec(), scaleSetId, view.id).find((r) => r.name === route.name) as RouteCase;
}
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
    const call = await fixtureFor(route);
    const actionsBefore = h.service.actions.length;
    const res = await h.app.inject({
      method: call.method,
      url: call.url,
      headers: h.auth(role),
      ...(call.payload ? { payload: call.payload } : {}),
    });
    if (rank[role] < rank[route.minRole]) {
      expect(res.statusCode).toBe(403);
      expect(res.json()).toMatchObject({ code: "FORBIDDEN", role, needed: route.minRole });
      expect(h.service.actions).toHaveLength(actionsBefore);
    } else {
      expect(res.statusCode, res.body).toBeGreaterThanOrEqual(200);
      expect(res.statusCode, res.body).toBeLessThan(300);
      if (validPhase[route.name]) {
        // The handler ran: the action reached the service, as this caller.
        expect(h.service.actions.slice(actionsBefore)).toEqual([
          expect.objectContaining({
            action: route.name === "rollback by scale set" ? "rollback" : route.name,
            actor: expect.objectContaining({ id: `${role}-bot` }),
          }),
        ]);
      }
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
