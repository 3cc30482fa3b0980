/**
 * The daemon's lifecycle as a process: SIGTERM ends it within 10 s even when its Redis has gone,
 * and a second `canaryd serve` in the same directory refuses to share (and later take away) the
 * first one's private Redis, naming the one that runs.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { isProcessAlive } from "../../src/daemon/private-redis.ts";
import { testPrefix } from "../integration/engine/support/harness.ts";
import { type DaemonProcess, projectRoot, runCanaryd } from "../support/daemon-process.ts";
import { type OwnRedis, startOwnRedis } from "../support/reliability-redis.ts";

const demoScenario = join(projectRoot, "config/simulator/demo.yaml");
const demoConfig = join(projectRoot, "config/demo.yaml");
const running: DaemonProcess[] = [];
const redises: OwnRedis[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((daemon) => daemon.stop("SIGKILL")));
  await Promise.all(redises.splice(0).map((redis) => redis.destroy()));
});

/**
 * The test's environment with REDIS_URL "" (read as unset) unless `env` names one: deleting it
 * would not do, as runCanaryd layers this over process.env, where the run's own REDIS_URL is.
 */
function serve(env: NodeJS.ProcessEnv, cwd: string): DaemonProcess {
  const daemon = runCanaryd(
    ["serve", "--simulate", demoScenario, "--config", demoConfig],
    { ...process.env, REDIS_URL: "", PORT: "0", ...env },
    cwd,
  );
  running.push(daemon);
  return daemon;
}

describe("canaryd serve, stopping", () => {
  it("ends within 10 s of SIGTERM when its Redis has gone", async () => {
    const redis = await startOwnRedis({});
    redises.push(redis);
    const cwd = mkdtempSync(join(tmpdir(), "canaryd-sigterm-"));
    const daemon = serve({ REDIS_URL: redis.url, CANARYD_REDIS_KEY_PREFIX: testPrefix() }, cwd);
    await daemon.serving();

    await redis.stop("SIGKILL");
    const sent = Date.now();
    const code = await Promise.race([
      daemon.stop("SIGTERM"),
      new Promise<"hung">((resolve) => setTimeout(resolve, 15_000, "hung")),
    ]);
    const seconds = (Date.now() - sent) / 1000;

    expect(code).not.toBe("hung");
    expect(seconds).toBeLessThan(10);
  }, 30_000);
});

describe("two canaryd serve in one directory", () => {
  it("refuses the second, naming the running one's pid and port, and leaves the first's Redis alone", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "canaryd-twice-"));
    const first = serve({}, cwd);
    const url = await first.serving();
    const redisPid = Number(readFileSync(join(cwd, "var/redis/redis.pid"), "utf8"));
    const redisPort = readFileSync(join(cwd, "var/redis/redis.port"), "utf8").trim();

    const second = serve({}, cwd);
    expect(await second.stop("SIGCONT")).toBe(1);
    expect(second.output()).toContain("PRIVATE_REDIS_IN_USE");
    expect(second.output()).toContain(`pid ${first.child.pid}`);
    expect(second.output()).toContain(`port ${redisPort}`);
    expect(isProcessAlive(redisPid)).toBe(true);
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);

    // Once the first has stopped, the directory is free again.
    expect(await first.stop("SIGTERM")).toBe(0);
    const third = serve({}, cwd);
    await third.serving();
    // SIGTERM, not the afterEach's SIGKILL: a daemon stopped that way takes its private Redis with it.
    const thirdRedisPid = Number(readFileSync(join(cwd, "var/redis/redis.pid"), "utf8"));
    expect(await third.stop("SIGTERM")).toBe(0);
    expect(isProcessAlive(thirdRedisPid)).toBe(false);
  }, 60_000);
});
