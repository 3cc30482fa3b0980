/** No token, valid or not, ever reaches a log line or a response. */
import { afterEach, describe, expect, it } from "vitest";
import { buildHarness, validSpec } from "./api-harness.ts";

let h: Awaited<ReturnType<typeof buildHarness>>;
afterEach(async () => {
  await h.app.close();
});

describe("secrets", () => {
  it("never writes a presented token to the log or into a response, on success or failure", async () => {
    h = await buildHarness();
    const wrongToken = "wrong-token-0123456789abcdefghijklmnopqrstuvwxyz";
    const responses = await Promise.all([
      h.app.inject({ url: "/v1/rollouts", headers: h.auth("viewer") }),
      h.app.inject({
        method: "POST",
        url: "/v1/rollouts",
        headers: h.auth("deployer"),
        payload: validSpec(),
      }),
      h.app.inject({ method: "POST", url: "/v1/rollouts", headers: h.auth("viewer"), payload: validSpec() }),
      h.app.inject({
        method: "POST",
        url: "/v1/rollouts",
        headers: h.auth("deployer"),
        payload: { bad: true },
      }),
      h.app.inject({ url: "/v1/rollouts/missing", headers: h.auth("oncall") }),
      h.app.inject({ url: "/v1/rollouts", headers: { authorization: `Bearer ${wrongToken}` } }),
      h.app.inject({ url: "/v1/rollouts?limit=-1", headers: h.auth("oncall") }),
    ]);
    expect(responses.map((r) => r.statusCode)).toEqual([200, 201, 403, 400, 404, 401, 400]);
    // The log did record the requests: the scan below is over real output.
    expect(h.logLines.length).toBeGreaterThan(10);
    const everything = [...h.logLines, ...responses.map((r) => r.body + JSON.stringify(r.headers))].join(
      "\n",
    );
    for (const secret of [...Object.values(h.tokens), wrongToken]) {
      expect(everything).not.toContain(secret);
    }
  });

  it("redacts an Authorization header even when something logs the request headers", async () => {
    h = await buildHarness();
    h.app.log.info({ headers: { authorization: `Bearer ${h.tokens.oncall}` } }, "headers");
    const line = h.logLines.find((l) => l.includes('"msg":"headers"')) ?? "";
    expect(line).toContain("[redacted]");
    expect(line).not.toContain(h.tokens.oncall);
  });

  it("answers an unexpected error with a 500 that reveals nothing of it", async () => {
    h = await buildHarness();
    h.service.get = async () => {
      throw new Error("ECONNRESET redis://:hunter2@10.0.0.7:6379");
    };
    const res = await h.app.inject({ url: "/v1/rollouts/ro-1", headers: h.auth("viewer") });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toMatchObject({ code: "INTERNAL", status: 500 });
    expect(res.body).not.toContain("hunter2");
    // The detail points at the log entry that has the cause.
    const requestId = /under request (\S+)$/.exec(res.json().detail)?.[1];
    const logged = h.logLines.find((l) => l.includes('"level":50') && l.includes(`"reqId":"${requestId}"`));
    expect(logged).toContain("ECONNRESET");
  });
});
