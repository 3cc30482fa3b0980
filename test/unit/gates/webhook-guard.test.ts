/**
 * The webhook gate's request-forgery guard and its JSON pointer, without a network (DNS is the
 * system resolver, for `localhost` only). Each case names the mutation it catches.
 */
import { describe, expect, it } from "vitest";
import { addressRefusal, checkHost, guardedLookup } from "../../../src/gates/webhook/guard.ts";
import { resolvePointer } from "../../../src/gates/webhook/json-pointer.ts";
import { conditionProblems } from "../../../src/gates/webhook/provider.ts";

describe("webhook address rules", () => {
  it.each([
    ["169.254.169.254", "metadata service"],
    ["169.254.1.1", "IPv4 link-local"],
    ["168.63.129.16", "Azure host endpoint"],
    ["0.0.0.0", "unspecified"],
    ["::", "IPv6 unspecified"],
    ["fe80::1", "IPv6 link-local"],
    ["::ffff:169.254.169.254", "metadata as IPv4-mapped IPv6"],
    ["fd00:ec2::254", "IPv6 metadata"],
    ["224.0.0.1", "multicast"],
  ])("refuses %s (%s) even when loopback is allowed", (address) => {
    // Mutation: a range dropped from the always-refused list, or mapped addresses not unwrapped.
    expect(addressRefusal(address, true)).toBeDefined();
  });

  it("refuses loopback unless allowed, and allows ordinary private and public addresses", () => {
    // Mutation: loopback always allowed (or private ranges refused: teams' checks live there).
    expect(addressRefusal("127.0.0.1", false)).toMatch(/loopback/);
    expect(addressRefusal("::1", false)).toMatch(/loopback/);
    expect(addressRefusal("::ffff:127.0.0.1", false)).toMatch(/loopback/);
    expect(addressRefusal("127.0.0.1", true)).toBeUndefined();
    expect(addressRefusal("10.1.2.3", false)).toBeUndefined();
    expect(addressRefusal("20.50.1.1", false)).toBeUndefined();
  });

  it("lets only listed hosts through; loopback only for a listed loopback literal", () => {
    // Mutations: a prefix or suffix match (checks.example.com.evil.net); the port ignored when listed.
    expect(() => checkHost(new URL("https://checks.example.com.evil.net/"), ["checks.example.com"])).toThrow(
      expect.objectContaining({ code: "WEBHOOK_HOST_NOT_ALLOWED" }),
    );
    expect(() => checkHost(new URL("https://checks.example.com:8443/"), ["checks.example.com:443"])).toThrow(
      expect.objectContaining({ code: "WEBHOOK_HOST_NOT_ALLOWED" }),
    );
    expect(checkHost(new URL("https://Checks.Example.com/"), ["checks.example.com:443"])).toEqual({
      loopbackAllowed: false,
    });
    expect(checkHost(new URL("http://127.0.0.1:9/"), ["127.0.0.1"])).toEqual({ loopbackAllowed: true });
    expect(checkHost(new URL("http://vm:9/"), ["vm"])).toEqual({ loopbackAllowed: false });
    expect(() => checkHost(new URL("http://169.254.169.254/"), ["169.254.169.254"])).toThrow(
      expect.objectContaining({ code: "WEBHOOK_ADDRESS_REFUSED" }),
    );
  });

  it("checks the resolved addresses: a name resolving to loopback is refused when loopback is not allowed", async () => {
    // Mutation: the lookup passing addresses through unchecked (only literals checked).
    const lookup = guardedLookup(false);
    const refused = await new Promise<unknown>((resolve) =>
      lookup("localhost", { all: true }, (error) => resolve(error)),
    );
    expect(refused).toMatchObject({ code: "WEBHOOK_ADDRESS_REFUSED" });
    const allowed = await new Promise<unknown>((resolve) =>
      guardedLookup(true)("localhost", {}, (error, address) => resolve(error ?? address)),
    );
    expect(allowed).toMatch(/^(127\.0\.0\.1|::1)$/);
  });
});

describe("webhook answer", () => {
  it("resolves RFC 6901 pointers, escapes included, and tells absent from null", () => {
    const doc = { a: [{ "b/c": 1, "d~e": null }], "": 2 };
    expect(resolvePointer(doc, "/a/0/b~1c")).toEqual({ found: true, value: 1 });
    expect(resolvePointer(doc, "/a/0/d~0e")).toEqual({ found: true, value: null });
    expect(resolvePointer(doc, "/a/1")).toEqual({ found: false });
    expect(resolvePointer(doc, "/a/01")).toEqual({ found: false });
    expect(resolvePointer(doc, "/")).toEqual({ found: true, value: 2 });
    expect(resolvePointer(doc, "")).toEqual({ found: true, value: doc });
    expect(resolvePointer({}, "/toString")).toEqual({ found: false });
  });

  it("judges equals, min and max; min/max on a non-number is neither pass nor fail", () => {
    expect(conditionProblems(0.5, { pointer: "/x", max: 0.1 })).toEqual(["above max 0.1"]);
    expect(conditionProblems(0.05, { pointer: "/x", min: 0.1, max: 1 })).toEqual(["below min 0.1"]);
    expect(conditionProblems(0.5, { pointer: "/x", min: 0, max: 1 })).toEqual([]);
    expect(conditionProblems("ok", { pointer: "/x", equals: "ok" })).toEqual([]);
    expect(conditionProblems("degraded", { pointer: "/x", equals: "ok" })).toEqual(['expected "ok"']);
    expect(conditionProblems("5", { pointer: "/x", max: 10 })).toBe("notNumber");
  });
});
