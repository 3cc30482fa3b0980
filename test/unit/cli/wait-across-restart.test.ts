/** Invariant 5: a pipeline waiting on a rollout learns its terminal phase even across daemon restarts. */
import { afterEach, describe, expect, it } from "vitest";
import { storeUnavailable } from "../../../src/engine/service/rollout-service.ts";
import { buildHarness, validSpec } from "../api/api-harness.ts";
import { runCli, urlOf } from "./cli-harness.ts";

type Harness = Awaited<ReturnType<typeof buildHarness>>;
const open: Harness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.app.close()));
});

async function crash(h: Harness) {
  h.app.server.closeAllConnections();
  await h.app.close();
}

// Real sockets and timers: generous limits keep a loaded machine from failing them.
describe("rollout wait across a daemon restart", { timeout: 20_000 }, () => {
  it("keeps retrying while the daemon is down and exits with the phase it finds after the restart", async () => {
    const first = await buildHarness();
    open.push(first);
    await first.app.listen({ port: 0, host: "127.0.0.1" });
    const url = urlOf(first.app.server);
    const port = Number(new URL(url).port);
    const { id } = await first.service.start(validSpec() as never, { actor: { id: "ci" } });

    const waiting = runCli(["rollout", "wait", id, "--timeout", "30s"], {
      CANARYD_URL: url,
      CANARYD_TOKEN: first.tokens.viewer,
    });
    await expect.poll(() => first.service.waiting, { timeout: 10_000 }).toBe(1);
    await crash(first);
    open.pop();
    // While the daemon is down the rollout ends (the engine kept its state in Redis).
    first.service.setPhase(id, "rolledBack", "system", "boot gate failed");

    const second = await buildHarness({ service: first.service, tokens: first.tokens });
    open.push(second);
    await second.app.listen({ port, host: "127.0.0.1" });

    const result = await waiting;
    expect(result.code).toBe(3);
    expect(result.stderr).toContain("cannot reach the canaryd daemon");
    expect(result.stdout).toContain(`rollout ${id} ended: rolledBack`);
  });

  it("retries while the daemon answers 503 (its Redis is coming back), then exits with the outcome", async () => {
    const h = await buildHarness();
    open.push(h);
    await h.app.listen({ port: 0, host: "127.0.0.1" });
    const { id } = await h.service.start(validSpec() as never, { actor: { id: "ci" } });
    h.service.setPhase(id, "completed");
    const realWait = h.service.waitForTerminal.bind(h.service);
    let refusals = 2;
    h.service.waitForTerminal = async (...args) => {
      if (refusals-- > 0) throw storeUnavailable("ECONNREFUSED");
      return realWait(...args);
    };
    const result = await runCli(["rollout", "wait", id, "--timeout", "30s"], {
      CANARYD_URL: urlOf(h.app.server),
      CANARYD_TOKEN: h.tokens.viewer,
    });
    expect(result.code).toBe(0);
    expect(refusals).toBe(-1);
    expect(result.stderr).toContain("Redis is not reachable");
  });

  it("exits 6 when the daemon stays unreachable until the timeout", async () => {
    const result = await runCli(["rollout", "wait", "ro-1", "--timeout", "1s"], {
      CANARYD_URL: "http://127.0.0.1:1",
    });
    expect(result.code).toBe(6);
    expect(result.stderr).toContain("gave up after 1s");
  });
});
