/**
 * GET /v1/rollouts/{id} answers under `actions` which user actions the rollout accepts now, from
 * the machine's own rules (canApply) and, for the rollback of a completed rollout, the same
 * supersession check POST .../rollback makes; what it calls refused, the action route refuses
 * (409) with the same words. Over the real engine and the simulator's demo fleet.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiStack, demoScaleSet, demoVersion, startApiStack } from "./api-stack.ts";

let stack: ApiStack;

beforeAll(async () => {
  stack = await startApiStack();
}, 60_000);

afterAll(async () => {
  await stack?.close();
});

const spec = (version: string, extra: object = {}) => ({
  name: `web-b-${version}`,
  image: { galleryImageVersionId: demoVersion(version) },
  waves: [{ name: "only", scaleSets: [demoScaleSet("web-b")] }],
  strategy: { bakeSeconds: 0, batchPercent: 100 },
  gates: [{ kind: "instanceHealth" }],
  ...extra,
});

async function start(body: object): Promise<string> {
  const res = await stack.app.inject({
    method: "POST",
    url: "/v1/rollouts",
    headers: stack.auth("oncall"),
    payload: body,
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().id;
}

async function detail(id: string) {
  const res = await stack.app.inject({ url: `/v1/rollouts/${id}`, headers: stack.auth("viewer") });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

describe("a rollout's actions", () => {
  it("follow the phase: approve while awaiting approval, rollback once completed, refused once superseded", async () => {
    const first = await start(
      spec("1.1.0", { strategy: { bakeSeconds: 0, batchPercent: 100, approval: "afterCanary" } }),
    );
    const deadline = Date.now() + 30_000;
    let view = await detail(first);
    while (view.phase !== "awaitingApproval") {
      if (Date.now() > deadline) throw new Error(`never awaited approval: ${view.phase}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      view = await detail(first);
    }
    // Mutation: EngineService.get leaves `actions` out, or asks canApply for the wrong action.
    expect(view.actions.approve).toEqual({ allowed: true });
    expect(view.actions.resume).toEqual({
      allowed: false,
      reason: "cannot resume while the rollout is awaitingApproval: resume continues a paused rollout",
    });
    // What `actions` refuses, the route refuses with the same reason.
    const resume = await stack.app.inject({
      method: "POST",
      url: `/v1/rollouts/${first}/resume`,
      headers: stack.auth("oncall"),
      payload: {},
    });
    expect(resume.statusCode).toBe(409);
    expect(resume.json().detail).toContain(view.actions.resume.reason);
    // The list leaves it out (it would restore the machine per action per rollout).
    const list = await stack.app.inject({ url: "/v1/rollouts?limit=5", headers: stack.auth("viewer") });
    expect(list.json().items[0].actions).toBeUndefined();

    const approve = await stack.app.inject({
      method: "POST",
      url: `/v1/rollouts/${first}/approve`,
      headers: stack.auth("oncall"),
      payload: { reason: "fine" },
    });
    expect(approve.statusCode, approve.body).toBe(200);
    expect((await stack.waitTerminal(first)).phase).toBe("completed");
    view = await detail(first);
    expect(view.actions.rollback).toEqual({ allowed: true });
    expect(view.actions.approve.allowed).toBe(false);

    // A newer rollout changes web-b again: rolling back the first would undo it.
    // Mutation: EngineService.actions skips the supersession check (rollback stays allowed).
    const second = await start(spec("1.7.0"));
    expect((await stack.waitTerminal(second)).phase).toBe("completed");
    view = await detail(first);
    expect(view.actions.rollback.allowed).toBe(false);
    expect(view.actions.rollback.reason).toContain(`superseded by the newer rollout ${second}`);
    const rollback = await stack.app.inject({
      method: "POST",
      url: `/v1/rollouts/${first}/rollback`,
      headers: stack.auth("oncall"),
      payload: { reason: "test" },
    });
    expect(rollback.statusCode).toBe(409);
    expect(rollback.json().code).toBe("SUPERSEDED");
  }, 90_000);
});
