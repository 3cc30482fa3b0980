import { describe, expect, it } from "vitest";
import { createAuthenticator, roleAllows, sha256Hex } from "../../../src/api/auth.ts";
import { CanarydError } from "../../../src/engine/service/rollout-service.ts";

const token = "s3cret-token-with-enough-entropy-0123456789";
const authenticate = createAuthenticator({
  disabled: false,
  tokens: [
    { name: "ci", sha256: sha256Hex("another-token"), role: "deployer" },
    { name: "alice", sha256: sha256Hex(token), role: "oncall" },
  ],
});

const errorOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err as CanarydError;
  }
  throw new Error("expected a throw");
};

describe("bearer authentication", () => {
  it("maps a token to the name and role stored beside its SHA-256", () => {
    expect(authenticate(`Bearer ${token}`)).toEqual({ id: "alice", role: "oncall" });
    expect(authenticate(`bearer   ${token} `)).toEqual({ id: "alice", role: "oncall" });
  });

  it("refuses a missing, wrong or differently-schemed credential with 401", () => {
    for (const header of [
      undefined,
      "",
      "Bearer",
      `Bearer ${token}x`,
      `Basic ${token}`,
      `Bearer ${sha256Hex(token)}`,
    ]) {
      const err = errorOf(() => authenticate(header));
      expect(err).toBeInstanceOf(CanarydError);
      expect(err.statusCode).toBe(401);
      expect(err.message).not.toContain(token);
    }
  });

  it("orders roles viewer < deployer < oncall", () => {
    expect(roleAllows("viewer", "viewer")).toBe(true);
    expect(roleAllows("viewer", "deployer")).toBe(false);
    expect(roleAllows("deployer", "deployer")).toBe(true);
    expect(roleAllows("deployer", "oncall")).toBe(false);
    expect(roleAllows("oncall", "deployer")).toBe(true);
  });

  it("treats every caller as anonymous oncall only when auth is disabled", () => {
    const open = createAuthenticator({ disabled: true, tokens: [] });
    expect(open(undefined)).toEqual({ id: "anonymous", role: "oncall" });
    const closed = createAuthenticator({ disabled: false, tokens: [] });
    expect(errorOf(() => closed(undefined)).statusCode).toBe(401);
  });
});
