/** Invariant 5: a pipeline waiting on a rollout learns its terminal phase even across daemon restarts. */
import { afterEach, describe, expect, it } from "vitest";
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

describe("rollout wait across a daemon restart", () => {
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
    await expect.poll(() => first.service.waiting).toBe(1);
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

  it("exits 6 when the daemon stays unreachable until the timeout", async () => {
    const result = await runCli(["rollout", "wait", "ro-1", "--timeout", "1s"], {
      CANARYD_URL: "http://127.0.0.1:1",
    });
    expect(result.code).toBe(6);
    expect(result.stderr).toContain("gave up after 1s");
  });
});
