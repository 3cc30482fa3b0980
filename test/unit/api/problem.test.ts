import { describe, expect, it } from "vitest";
import { invalidSpec, toProblem } from "../../../src/api/problem.ts";
import { scaleSetBusy, storeUnavailable } from "../../../src/engine/service/rollout-service.ts";

const request = { url: "/v1/rollouts?dryRun=true", id: "req-7" };

describe("problem documents", () => {
  it("carry a CanarydError's status, code and details as members, without the query string", () => {
    const problem = toProblem(scaleSetBusy("/subscriptions/s/x", "ro-9"), request);
    expect(problem).toEqual({
      type: "urn:canaryd:problem:scale-set-busy",
      title: "Conflict",
      status: 409,
      code: "SCALE_SET_BUSY",
      detail:
        "scale set /subscriptions/s/x is held by rollout ro-9 (active, or failed with its rollback not converged there: roll it back again or release it)",
      instance: "/v1/rollouts",
      scaleSetId: "/subscriptions/s/x",
      holderId: "ro-9",
    });
  });

  it("list spec errors with path and rule, summarising the first in the detail", () => {
    const problem = toProblem(
      invalidSpec([
        { path: "waves[0].name", rule: "required" },
        { path: "name", rule: "too long" },
      ]),
      request,
    );
    expect(problem.status).toBe(400);
    expect(problem.detail).toBe("the rollout spec is invalid: waves[0].name: required (and 1 more)");
    expect(problem.errors).toHaveLength(2);
  });

  it("turn Ajv errors into dotted field paths with the rule", () => {
    const fastifyError = Object.assign(new Error("validation"), {
      statusCode: 400,
      validationContext: "body",
      validation: [
        { instancePath: "", keyword: "required", params: { missingProperty: "scaleSetId" }, message: "x" },
        { instancePath: "/items/2", keyword: "type", params: {}, message: "must be string" },
      ],
    });
    expect(toProblem(fastifyError, request).errors).toEqual([
      { path: "body.scaleSetId", rule: "required" },
      { path: "body.items[2]", rule: "must be string" },
    ]);
  });

  it("keep 5xx CanarydErrors' messages but hide unknown errors' messages", () => {
    expect(toProblem(storeUnavailable("ECONNREFUSED"), request)).toMatchObject({
      status: 503,
      code: "STORE_UNAVAILABLE",
    });
    const hidden = toProblem(new TypeError("secret internals"), request);
    expect(hidden).toMatchObject({ status: 500, code: "INTERNAL" });
    expect(hidden.detail).not.toContain("secret internals");
    expect(hidden.detail).toContain("req-7");
  });
});
