/** The retry policy: which errors are worth another attempt, and how long to wait before it. */
import { createHttpHeaders, createPipelineRequest, RestError } from "@azure/core-rest-pipeline";
import { describe, expect, it } from "vitest";
import { AzureAdapterError, wrapAzureError } from "../../../src/azure/errors.ts";
import {
  classifyError,
  givesUp,
  parseRetryAfter,
  retryDelayMs,
} from "../../../src/engine/core/retry-policy.ts";

function azure(status: number, code = "SomeCode", headers: Record<string, string> = {}) {
  return wrapAzureError(
    "calling Azure",
    new RestError(`status ${status}`, {
      statusCode: status,
      code,
      response: {
        status,
        headers: createHttpHeaders(headers),
        request: createPipelineRequest({ url: "https://management.azure.com/x" }),
      },
    }),
  );
}

describe("classifyError", () => {
  it.each([400, 401, 403, 404, 412])("treats Azure's %i as permanent", (status) => {
    expect(classifyError(azure(status))).toMatchObject({
      class: "permanent",
      code: `AZURE_${status}`,
      statusCode: status,
    });
  });

  it.each([408, 409, 429, 500, 502, 503, 504])("treats Azure's %i as transient", (status) => {
    expect(classifyError(azure(status)).class).toBe("transient");
  });

  it("keeps Azure's Retry-After", () => {
    expect(classifyError(azure(429, "TooManyRequests", { "retry-after": "7" })).retryAfterMs).toBe(7_000);
  });

  it("treats a failed long-running operation with a retryable Azure code as transient", () => {
    const lro = new AzureAdapterError("MODEL_WRITE_FAILED", "the operation failed", {
      azureCode: "OperationPreempted",
    });
    expect(classifyError(lro).class).toBe("transient");
    const denied = new AzureAdapterError("MODEL_WRITE_FAILED", "the operation failed", {
      azureCode: "AuthorizationFailed",
    });
    expect(classifyError(denied).class).toBe("permanent");
  });

  it("treats a connection error or a timeout as transient, and a bug as permanent", () => {
    expect(classifyError(Object.assign(new Error("reset"), { code: "ECONNRESET" }))).toEqual({
      class: "transient",
      code: "ECONNRESET",
    });
    expect(classifyError(new DOMException("slow", "TimeoutError")).class).toBe("transient");
    expect(classifyError(new TypeError("x is undefined"))).toEqual({ class: "permanent", code: "UNKNOWN" });
    expect(classifyError(azure(0, "REQUEST_SEND_ERROR")).class).toBe("transient");
  });
});

describe("givesUp", () => {
  const transient = { class: "transient", code: "AZURE_503" } as const;
  it("gives up at once on a permanent error, and on a transient one at the last attempt", () => {
    expect(givesUp({ class: "permanent", code: "AZURE_403" }, 1, 5)).toBe(true);
    expect(givesUp(transient, 4, 5)).toBe(false);
    expect(givesUp(transient, 5, 5)).toBe(true);
  });
});

describe("retryDelayMs", () => {
  const options = { baseMs: 1_000, capMs: 8_000 };
  it("grows exponentially up to the cap, jittered from zero to the ceiling", () => {
    expect([1, 2, 3, 4, 5, 9].map((retry) => retryDelayMs(retry, options, 0, () => 1))).toEqual([
      1_000, 2_000, 4_000, 8_000, 8_000, 8_000,
    ]);
    expect(retryDelayMs(3, options, 0, () => 0)).toBe(0);
    expect(retryDelayMs(3, options, 0, () => 0.5)).toBe(2_000);
  });

  it("never waits less than Retry-After, even past the cap", () => {
    expect(retryDelayMs(1, options, 30_000, () => 1)).toBe(30_000);
    expect(retryDelayMs(4, options, 500, () => 1)).toBe(8_000);
  });
});

describe("parseRetryAfter", () => {
  it("reads delta seconds and HTTP dates", () => {
    expect(parseRetryAfter("2")).toBe(2_000);
    expect(parseRetryAfter("Fri, 04 Dec 2026 15:00:10 GMT", Date.parse("2026-12-04T15:00:00Z"))).toBe(10_000);
    expect(parseRetryAfter("soon")).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});
