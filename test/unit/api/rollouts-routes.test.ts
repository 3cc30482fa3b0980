import { afterEach, describe, expect, it } from "vitest";
import { buildHarness, scaleSetA, scaleSetB, validSpec } from "./api-harness.ts";

type Harness = Awaited<ReturnType<typeof buildHarness>>;
let h: Harness;
afterEach(async () => {
  await h.app.close();
});

describe("POST /v1/rollouts", () => {
  it("starts a rollout from JSON and answers 201 with id, phase and a Location", async () => {
    h = await buildHarness();
    const res = await h.app.inject({
      method: "POST",
      url: "/v1/rollouts",
      headers: h.auth("deployer"),
      payload: validSpec(),
    });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body).toMatchObject({
      id: "ro-1",
      phase: "pending",
      name: "web-1.1.0",
      createdBy: "deployer-bot",
    });
    expect(res.headers.location).toBe("/v1/rollouts/ro-1");
    expect(h.service.starts[0]?.actor).toEqual({ id: "deployer-bot", role: "deployer" });
    // The spec reaches the service with its defaults applied.
    expect(h.service.starts[0]?.spec.strategy.bakeSeconds).toBe(300);
  });

  it("accepts a YAML spec with Content-Type application/yaml", async () => {
    h = await buildHarness();
    const yaml = `name: web-yaml\nimage:\n  galleryImageVersionId: ${validSpec().image.galleryImageVersionId}\nwaves:\n  - name: first\n    scaleSets: [${scaleSetA}]\n`;
    const res = await h.app.inject({
      method: "POST",
      url: "/v1/rollouts",
      headers: { ...h.auth("deployer"), "content-type": "application/yaml" },
      payload: yaml,
    });
    expect(res.statusCode).toBe(201);
    expect(res.json().name).toBe("web-yaml");
  });

  it("answers 400 problem+json naming each field path and rule, and starts nothing", async () => {
    h = await buildHarness();
    const spec = { ...validSpec(), waves: [{ name: "first", scaleSets: ["not-a-scale-set"] }], stratgey: {} };
    const res = await h.app.inject({
      method: "POST",
      url: "/v1/rollouts",
      headers: h.auth("deployer"),
      payload: spec,
    });
    expect(res.statusCode).toBe(400);
    expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
    const body = res.json();
    expect(body).toMatchObject({
      status: 400,
      code: "SPEC_INVALID",
      title: "Bad Request",
      instance: "/v1/rollouts",
    });
    expect(body.type).toBe("urn:canaryd:problem:spec-invalid");
    expect(body.errors).toEqual(
      expect.arrayContaining([
        { path: "waves[0].scaleSets[0]", rule: "a scale set resource id" },
        expect.objectContaining({ path: "", rule: expect.stringContaining("stratgey") }),
      ]),
    );
    expect(h.service.starts).toHaveLength(0);
  });

  it("reports invalid YAML as a 400 with the parser's reason", async () => {
    h = await buildHarness();
    const res = await h.app.inject({
      method: "POST",
      url: "/v1/rollouts",
      headers: { ...h.auth("deployer"), "content-type": "application/yaml" },
      payload: "name: [unclosed",
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().errors[0].rule).toMatch(/^not valid YAML/);
  });

  it("answers 409 naming the scale set and the rollout holding it", async () => {
    h = await buildHarness();
    await h.app.inject({
      method: "POST",
      url: "/v1/rollouts",
      headers: h.auth("deployer"),
      payload: validSpec(),
    });
    const res = await h.app.inject({
      method: "POST",
      url: "/v1/rollouts",
      headers: h.auth("deployer"),
      payload: validSpec([scaleSetB, scaleSetA]),
    });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ code: "SCALE_SET_BUSY", scaleSetId: scaleSetA, holderId: "ro-1" });
    expect(res.json().detail).toContain("ro-1");
  });

  it("with the same Idempotency-Key returns the same rollout; keys are scoped to the caller", async () => {
    h = await buildHarness();
    const start = (role: "deployer" | "oncall") =>
      h.app.inject({
        method: "POST",
        url: "/v1/rollouts",
        headers: { ...h.auth(role), "idempotency-key": "pipeline-run-42" },
        payload: validSpec(),
      });
    const first = await start("deployer");
    const retry = await start("deployer");
    expect(retry.statusCode).toBe(201);
    expect(retry.json().id).toBe(first.json().id);
    const keys = h.service.starts.map((s) => s.idempotencyKey);
    expect(keys[0]).toBe(keys[1]);
    await start("oncall");
    expect(h.service.starts[2]?.idempotencyKey).not.toBe(keys[0]);
    expect(keys[0]).not.toContain("pipeline-run-42");
  });

  it("with ?dryRun=true answers 200 with the plan and starts nothing", async () => {
    h = await buildHarness();
    const res = await h.app.inject({
      method: "POST",
      url: "/v1/rollouts?dryRun=true",
      headers: h.auth("deployer"),
      payload: validSpec(),
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      wouldStart: true,
      waves: [{ name: "first", scaleSets: [{ id: scaleSetA }] }],
    });
    expect(h.service.rollouts.size).toBe(0);
  });

  it("answers 413 problem+json when the body exceeds the configured limit", async () => {
    h = await buildHarness({ bodyLimitBytes: 2048 });
    const res = await h.app.inject({
      method: "POST",
      url: "/v1/rollouts",
      headers: h.auth("deployer"),
      payload: { ...validSpec(), owner: "x".repeat(4096) },
    });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ status: 413, code: "BODY_TOO_LARGE" });
  });

  it("answers 415 for a media type it does not read", async () => {
    h = await buildHarness();
    const res = await h.app.inject({
      method: "POST",
      url: "/v1/rollouts",
      headers: { ...h.auth("deployer"), "content-type": "text/csv" },
      payload: "a,b",
    });
    expect(res.statusCode).toBe(415);
    expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
  });
});

describe("GET /v1/rollouts and /v1/rollouts/:id", () => {
  it("lists with phase and scale set filters and pages with a cursor", async () => {
    h = await buildHarness();
    for (const ss of [scaleSetA, scaleSetB]) {
      await h.app.inject({
        method: "POST",
        url: "/v1/rollouts",
        headers: h.auth("deployer"),
        payload: validSpec([ss]),
      });
    }
    h.service.setPhase("ro-1", "completed");
    const page1 = await h.app.inject({ url: "/v1/rollouts?limit=1", headers: h.auth("viewer") });
    expect(page1.json().items.map((r: { id: string }) => r.id)).toEqual(["ro-1"]);
    const page2 = await h.app.inject({
      url: `/v1/rollouts?limit=1&cursor=${page1.json().nextCursor}`,
      headers: h.auth("viewer"),
    });
    expect(page2.json()).toEqual({ items: [expect.objectContaining({ id: "ro-2" })] });
    const completed = await h.app.inject({ url: "/v1/rollouts?phase=completed", headers: h.auth("viewer") });
    expect(completed.json().items.map((r: { id: string }) => r.id)).toEqual(["ro-1"]);
    const onB = await h.app.inject({
      url: `/v1/rollouts?scaleSetId=${encodeURIComponent(scaleSetB)}`,
      headers: h.auth("viewer"),
    });
    expect(onB.json().items.map((r: { id: string }) => r.id)).toEqual(["ro-2"]);
  });

  it("rejects an unknown phase and an out-of-range limit with field paths", async () => {
    h = await buildHarness();
    const res = await h.app.inject({ url: "/v1/rollouts?phase=dancing&limit=0", headers: h.auth("viewer") });
    expect(res.statusCode).toBe(400);
    const paths = res.json().errors.map((e: { path: string }) => e.path);
    expect(paths).toEqual(expect.arrayContaining(["querystring.phase", "querystring.limit"]));
  });

  it("reads one rollout with its timeline, and 404s an unknown id", async () => {
    h = await buildHarness();
    await h.app.inject({
      method: "POST",
      url: "/v1/rollouts",
      headers: h.auth("deployer"),
      payload: validSpec(),
    });
    const res = await h.app.inject({ url: "/v1/rollouts/ro-1", headers: h.auth("viewer") });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      id: "ro-1",
      spec: { name: "web-1.1.0" },
      timeline: [{ seq: 1, type: "started", actor: "deployer-bot" }],
    });
    const missing = await h.app.inject({ url: "/v1/rollouts/ro-404", headers: h.auth("viewer") });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ code: "ROLLOUT_NOT_FOUND", id: "ro-404" });
  });

  it("shows the rollout's dead letters, exactly as the service holds them", async () => {
    h = await buildHarness();
    await h.app.inject({
      method: "POST",
      url: "/v1/rollouts",
      headers: h.auth("deployer"),
      payload: validSpec(),
    });
    const letter = {
      rolloutId: "ro-1",
      effectId: "setModelImage:a:1",
      kind: "setModelImage",
      scaleSetId: scaleSetA,
      reason: "writing the model: AuthorizationFailed",
      code: "AZURE_403",
      attempts: 1,
      transient: false,
      at: "2026-12-04T15:00:00.000Z",
    };
    const before = await h.app.inject({ url: "/v1/rollouts/ro-1", headers: h.auth("viewer") });
    expect(before.json().deadLetters).toEqual([]);
    h.service.deadLettersById.set("ro-1", [letter]);
    const res = await h.app.inject({ url: "/v1/rollouts/ro-1", headers: h.auth("viewer") });
    expect(res.json().deadLetters).toEqual([letter]);
  });
});

describe("actions and rollback", () => {
  it("records the caller and reason of an action", async () => {
    h = await buildHarness();
    await h.app.inject({
      method: "POST",
      url: "/v1/rollouts",
      headers: h.auth("deployer"),
      payload: validSpec(),
    });
    const res = await h.app.inject({
      method: "POST",
      url: "/v1/rollouts/ro-1/pause",
      headers: h.auth("deployer"),
      payload: { reason: "change freeze" },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().phase).toBe("paused");
    expect(h.service.actions).toEqual([
      {
        id: "ro-1",
        action: "pause",
        actor: { id: "deployer-bot", role: "deployer" },
        reason: "change freeze",
      },
    ]);
  });

  it("accepts an action without a body", async () => {
    h = await buildHarness();
    await h.app.inject({
      method: "POST",
      url: "/v1/rollouts",
      headers: h.auth("deployer"),
      payload: validSpec(),
    });
    const res = await h.app.inject({
      method: "POST",
      url: "/v1/rollouts/ro-1/approve",
      headers: h.auth("deployer"),
    });
    expect(res.statusCode).toBe(200);
    expect(h.service.actions[0]).toMatchObject({ action: "approve" });
  });

  it("refuses unknown fields in an action body with the field path", async () => {
    h = await buildHarness();
    await h.app.inject({
      method: "POST",
      url: "/v1/rollouts",
      headers: h.auth("deployer"),
      payload: validSpec(),
    });
    const res = await h.app.inject({
      method: "POST",
      url: "/v1/rollouts/ro-1/abort",
      headers: h.auth("deployer"),
      payload: { reasn: "typo" },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().errors).toEqual([{ path: "body.reasn", rule: "unknown field" }]);
    expect(h.service.actions).toHaveLength(0);
  });

  it("answers 409 with the phase when the action does not apply", async () => {
    h = await buildHarness();
    await h.app.inject({
      method: "POST",
      url: "/v1/rollouts",
      headers: h.auth("deployer"),
      payload: validSpec(),
    });
    h.service.setPhase("ro-1", "rolledBack");
    const res = await h.app.inject({
      method: "POST",
      url: "/v1/rollouts/ro-1/resume",
      headers: h.auth("deployer"),
    });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ code: "ACTION_NOT_ALLOWED", phase: "rolledBack", action: "resume" });
  });

  it("rolls back by scale set and answers with the rollout acted on", async () => {
    h = await buildHarness();
    await h.app.inject({
      method: "POST",
      url: "/v1/rollouts",
      headers: h.auth("deployer"),
      payload: validSpec(),
    });
    h.service.setPhase("ro-1", "completed");
    const res = await h.app.inject({
      method: "POST",
      url: "/v1/rollback",
      headers: h.auth("oncall"),
      payload: { scaleSetId: scaleSetA, reason: "error rate up" },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id: "ro-1", phase: "rollingBack" });
    expect(h.service.actions[0]).toMatchObject({
      action: "rollback",
      reason: "error rate up",
      actor: { id: "oncall-bot" },
    });
  });

  it("requires scaleSetId and reason for the one-call rollback", async () => {
    h = await buildHarness();
    const res = await h.app.inject({
      method: "POST",
      url: "/v1/rollback",
      headers: h.auth("oncall"),
      payload: {},
    });
    expect(res.statusCode).toBe(400);
    const paths = res.json().errors.map((e: { path: string }) => e.path);
    expect(paths).toEqual(expect.arrayContaining(["body.scaleSetId", "body.reason"]));
  });

  it("answers 404 when no rollout ever touched the scale set", async () => {
    h = await buildHarness();
    const res = await h.app.inject({
      method: "POST",
      url: "/v1/rollback",
      headers: h.auth("oncall"),
      payload: { scaleSetId: scaleSetB, reason: "why not" },
    });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ code: "NOTHING_TO_ROLL_BACK", scaleSetId: scaleSetB });
  });
});

describe("limits and headers", () => {
  it("rate-limits changes per caller with a 429 problem", async () => {
    h = await buildHarness({ mutationsPerMinute: 2 });
    const post = (role: "deployer" | "oncall") =>
      h.app.inject({
        method: "POST",
        url: "/v1/rollouts?dryRun=true",
        headers: h.auth(role),
        payload: validSpec(),
      });
    expect((await post("deployer")).statusCode).toBe(200);
    expect((await post("deployer")).statusCode).toBe(200);
    const limited = await post("deployer");
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toMatchObject({ code: "RATE_LIMITED", status: 429 });
    // Another caller has its own budget; reads are not limited.
    expect((await post("oncall")).statusCode).toBe(200);
    expect((await h.app.inject({ url: "/v1/rollouts", headers: h.auth("deployer") })).statusCode).toBe(200);
  });

  it("sends security headers", async () => {
    h = await buildHarness();
    const res = await h.app.inject({ url: "/healthz" });
    expect(res.headers["x-content-type-options"]).toBe("nosniff");
    expect(res.headers["strict-transport-security"]).toBeDefined();
    expect(res.headers["content-security-policy"]).toContain("default-src 'self'");
    expect(res.headers["content-security-policy"]).not.toContain("upgrade-insecure-requests");
  });

  it("answers an unknown route with a 404 problem", async () => {
    h = await buildHarness();
    const res = await h.app.inject({ url: "/v2/nothing" });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ code: "ROUTE_NOT_FOUND", status: 404 });
  });
});
