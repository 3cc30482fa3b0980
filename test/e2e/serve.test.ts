import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { isProcessAlive } from "../../src/daemon/private-redis.ts";
import { type DaemonProcess, projectRoot, runCanaryd } from "../support/daemon-process.ts";

const demoScenario = join(projectRoot, "config/simulator/demo.yaml");
const demoConfig = join(projectRoot, "config/demo.yaml");
const running: DaemonProcess[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((daemon) => daemon.stop("SIGKILL")));
});

/**
 * The test's environment with these variables unset for the daemon. They are set to "" (which the
 * daemon's configuration reads as unset) rather than deleted, because runCanaryd layers this over
 * process.env, where the test run's own REDIS_URL (test/support/global-redis.ts) would come back.
 */
function envWithout(...names: string[]): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of names) env[name] = "";
  return { ...env, PORT: "0" };
}

describe("canaryd serve", () => {
  it("starts a private Redis when REDIS_URL is unset, is ready, and stops that Redis on SIGTERM", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "canaryd-serve-"));
    const daemon = runCanaryd(
      ["serve", "--simulate", demoScenario, "--config", demoConfig],
      envWithout("REDIS_URL"),
      cwd,
    );
    running.push(daemon);
    const url = await daemon.serving();

    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    const redisPid = Number(readFileSync(join(cwd, "var/redis/redis.pid"), "utf8"));
    expect(isProcessAlive(redisPid)).toBe(true);

    expect(await daemon.stop("SIGTERM")).toBe(0);
    expect(isProcessAlive(redisPid)).toBe(false);
  });

  it("refuses a bad configuration value with one message naming the key", async () => {
    const daemon = runCanaryd(["serve"], { ...envWithout(), PORT: "http" });
    running.push(daemon);
    expect(await daemon.stop("SIGCONT")).toBe(2);
    expect(daemon.output()).toContain("server.port");
    expect(daemon.output()).toContain('"http"');
  });

  it("names the three ways out when there is neither REDIS_URL nor a redis-server", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "canaryd-serve-"));
    const env = {
      ...envWithout("REDIS_URL"),
      PATH: dirname(process.execPath),
      CANARYD_AUTH_DISABLED: "true",
    };
    const daemon = runCanaryd(["serve"], env, cwd);
    running.push(daemon);
    expect(await daemon.stop("SIGCONT")).toBe(1);
    expect(daemon.output()).toMatch(/install redis-server/);
    expect(daemon.output()).toMatch(/REDIS_URL/);
    expect(daemon.output()).toMatch(/docker compose up/);
  });

  it("refuses to start without API tokens unless authentication is turned off explicitly", async () => {
    const daemon = runCanaryd(["serve"], {
      ...envWithout(),
      REDIS_URL: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
    });
    running.push(daemon);
    expect(await daemon.stop("SIGCONT")).toBe(1);
    expect(daemon.output()).toContain("CANARYD_AUTH_DISABLED=true");
  });
});
