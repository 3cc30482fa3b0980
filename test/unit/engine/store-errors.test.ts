import { describe, expect, it } from "vitest";
import { rolloutNotFound } from "../../../src/engine/service/rollout-service.ts";
import { isConnectionError } from "../../../src/engine/store/store-errors.ts";

describe("store errors", () => {
  it("recognise an unreachable Redis", () => {
    expect(isConnectionError(new Error("connect ECONNREFUSED 127.0.0.1:6390"))).toBe(true);
    expect(isConnectionError(new Error("Connection is closed."))).toBe(true);
  });

  it("recognise an unreachable Redis Cluster or a master of it that is down", () => {
    expect(isConnectionError(new Error("None of startup nodes is available"))).toBe(true);
    expect(isConnectionError(new Error("Failed to refresh slots cache."))).toBe(true);
    expect(isConnectionError(new Error("CLUSTERDOWN The cluster is down"))).toBe(true);
  });

  it("leave coded and other errors alone", () => {
    expect(isConnectionError(rolloutNotFound("x"))).toBe(false);
    expect(isConnectionError(new Error("WRONGTYPE Operation against a key"))).toBe(false);
  });
});
