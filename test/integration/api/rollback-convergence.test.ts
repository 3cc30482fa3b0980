/**
 * Rollback as convergence, pause, and the model guard, end to end: the API over the real engine,
 * the real Azure SDK clients and the simulator (demo scenario, time compressed), with real Redis.
 * Each test gets a fresh simulator and engine; the simulator's request log is the witness of
 * what canaryd asked Azure to do.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { buildApi } from "../../../src/api/app.ts";
import { createMetrics } from "../../../src/api/metrics.ts";
import { type AzureAdapters, createAzureAdapters } from "../../../src/azure/adapters.ts";
import { createAzureAccess } from "../../../src/azure/credentials.ts";
import { loadConfig } from "../../../src/config/load-config.ts";
import type { Config } from "../../../src/config/schema.ts";
import { createEffectExecutor } from "../../../src/engine/effects/create-effect-executor.ts";
import { createEngine, type Engine } from "../../../src/engine/engine.ts";
import { type RunningSimulator, startSimulator } from "../../../src/simulator/index.ts";

const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const subscription =
  "/subscriptions/5f2b8c1e-3a4d-4e6f-9b0a-1c2d3e4f5a6b/resourceGroups/rg-demo/providers/Microsoft.Compute";
const scaleSet = (name: string) => `${subscription}/virtualMachineScaleSets/${name}`;
const version = (v: string) => `${subscription}/galleries/demoGallery/images/web/versions/${v}`;
const logger = pino({ level: process.env.LOG_LEVEL ?? "silent" });
const upgrades = "virtualMachineScaleSets.updateInstances";

interface Stack {
  sim: RunningSimulator;
  azure: AzureAdapters;
  engine: Engine;
  app: FastifyInstance;
  prefix: string;
  dir: string;
}
const stacks: Stack[] = [];

async function stack(options: { timeScale: number; engine?: Partial<Config["engine"]> }): Promise<Stack> {
  const dir = await mkdtemp(join(tmpdir(), "canaryd-converge-"));
  const prefix = `{cdconv-${randomBytes(5).toString("hex")}}`;
  const connectionFile = join(dir, "simulator.json");
  const sim = await startSimulator({
    scenario: "config/simulator/demo.yaml",
    port: 0,
    timeScale: options.timeScale,
    lroRetryAfterSeconds: 0,
    metricsIngestionDelaySeconds: 0,
    fresh: true,
    connectionFile,
    stateFile: join(dir, "state.json"),
    certDir: dir,
  });
  const defaults = loadConfig({ env: {} });
  const config: Config = {
    ...defaults,
    redis: { ...defaults.redis, url: redisUrl, keyPrefix: prefix },
    azure: { ...defaults.azure, credential: "connectionFile", connectionFile },
    engine: {
      ...defaults.engine,
      pollIntervalSeconds: 1,
      gateRetrySeconds: 1,
      replicationPollSeconds: 1,
      ...options.engine,
    },
    auth: { disabled: true, tokens: [] },
  };
  const azure = createAzureAdapters(await createAzureAccess(config.azure));
  const engine = createEngine({
    redisUrl,
    config,
    executeEffect: createEffectExecutor({ azure, config: config.engine, allowLatestFor: [] }),
    logger,
    timing: {
      timeScale: options.timeScale,
      retryBackoffMs: 10,
      waitRecheckMs: 300,
      recoveryIntervalMs: 1000,
    },
  });
  await engine.start();
  const app = await buildApi({
    service: engine.service,
    config,
    logger,
    metrics: createMetrics({ defaultMetrics: false }),
  });
  const s = { sim, azure, engine, app, prefix, dir };
  stacks.push(s);
  return s;
}

afterEach(async () => {
  for (const s of stacks.splice(0)) {
    await s.app.close();
    await s.engine.stop();
    await s.sim.close();
    const redis = new Redis(redisUrl);
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${s.prefix}*`, "COUNT", 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== "0");
    redis.disconnect();
    await rm(s.dir, { recursive: true, force: true });
  }
});

function spec(v: string, names: string[], strategy: Record<string, unknown> = {}) {
  return {
    name: `web-${v}`,
    image: { galleryImageVersionId: version(v) },
    waves: [{ name: "only", scaleSets: names.map(scaleSet) }],
    strategy: { canary: { instances: 1 }, batchPercent: 50, bakeSeconds: 600, ...strategy },
    // Instance health only: the tests are about the rollback loop, not about what gates measure.
    gates: [{ kind: "instanceHealth" }],
  };
}

async function post(s: Stack, url: string, payload?: unknown) {
  return s.app.inject({
    method: "POST",
    url,
    ...(payload === undefined ? {} : { payload: payload as object }),
  });
}

async function view(s: Stack, id: string) {
  return (await s.app.inject({ url: `/v1/rollouts/${id}` })).json();
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, limitMs = 60_000): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const phaseIs = (s: Stack, id: string, phases: string[]) =>
  until(`phase ${phases.join("|")}`, async () => {
    const v = await view(s, id);
    return phases.includes(v.phase) ? v : undefined;
  });

const versions = (s: Stack, name: string) => s.sim.instanceImages(scaleSet(name)).map((i) => i.version);
const modelVersion = async (s: Stack, name: string) =>
  (await s.azure.compute.readModelImage(scaleSet(name))).imageReference?.id?.split("/").pop();

describe("rollback converges on every instance that exists", () => {
  it("takes back instances that appeared during the bake (scale-out), not only the ones it upgraded", async () => {
    const s = await stack({ timeScale: 60 });
    const start = await post(s, "/v1/rollouts", spec("1.1.0", ["web-a"]));
    expect(start.statusCode).toBe(201);
    const { id } = start.json();
    await phaseIs(s, id, ["baking"]);
    const before = s.sim.instanceImages(scaleSet("web-a")).length;
    const { instanceIds: appeared } = s.sim.scaleOut("web-a", 2);
    // Created from the model canaryd wrote: they run the new version.
    await until("new instances booted", async () =>
      appeared.every(
        (i) => s.sim.instanceImages(scaleSet("web-a")).find((x) => x.instanceId === i)?.version === "1.1.0",
      )
        ? true
        : undefined,
    );

    const rollback = await post(s, `/v1/rollouts/${id}/rollback`, { reason: "bad canary" });
    expect(rollback.statusCode).toBe(200);
    const done = await phaseIs(s, id, ["rolledBack", "failed"]);

    expect(done.phase).toBe("rolledBack");
    expect(await modelVersion(s, "web-a")).toBe("1.0.0");
    expect(s.sim.instanceImages(scaleSet("web-a"))).toHaveLength(before + 2);
    expect(versions(s, "web-a")).toEqual(versions(s, "web-a").map(() => "1.0.0"));
    const upgradedBack = done.timeline
      .filter((e: { type: string }) => e.type === "rollback.upgrading")
      .flatMap((e: { data: { instanceIds: string[] } }) => e.data.instanceIds);
    expect(upgradedBack).toEqual(expect.arrayContaining(appeared));
  });

  it("rides out a Resource Manager outage of 150 s that starts right after the rollback: rolledBack, never failed", async () => {
    // One job attempt per effect, so the rollback's own loop (not BullMQ) is what persists.
    const s = await stack({ timeScale: 10, engine: { effectAttempts: 1, rollbackRetrySeconds: 5 } });
    const { id } = (await post(s, "/v1/rollouts", spec("1.1.0", ["web-a"], { bakeSeconds: 60 }))).json();
    await phaseIs(s, id, ["baking"]);
    expect((await post(s, `/v1/rollouts/${id}/rollback`, { reason: "outage drill" })).statusCode).toBe(200);
    s.sim.armOutage({ simulatedSeconds: 150, retryAfterSeconds: 1 });

    const done = await phaseIs(s, id, ["rolledBack", "failed"]);
    expect(done.phase).toBe("rolledBack");
    expect(done.timeline.some((e: { type: string }) => e.type === "rollback.retry")).toBe(true);
    expect(s.sim.requestLog().some((e) => e.status === 503)).toBe(true);
    expect(versions(s, "web-a")).toEqual(versions(s, "web-a").map(() => "1.0.0"));
    expect(await modelVersion(s, "web-a")).toBe("1.0.0");
  }, 120_000);
});

describe("a rollback that cannot converge", () => {
  async function failedRollout(s: Stack) {
    const { id } = (await post(s, "/v1/rollouts", spec("1.1.0", ["web-a"], { bakeSeconds: 60 }))).json();
    await phaseIs(s, id, ["baking"]);
    const outage = s.sim.armOutage({ simulatedSeconds: 36_000, retryAfterSeconds: 0 });
    expect((await post(s, `/v1/rollouts/${id}/rollback`, { reason: "drill" })).statusCode).toBe(200);
    const failed = await phaseIs(s, id, ["failed", "rolledBack"]);
    expect(failed.phase).toBe("failed");
    expect(failed.reason).toMatch(/rollbackPersistSeconds/);
    return { id, outage };
  }

  it("ends failed and keeps its claim; a new rollout gets 409 naming it; rollback from failed converges once Azure is back", async () => {
    const s = await stack({ timeScale: 60, engine: { effectAttempts: 1, rollbackPersistSeconds: 60 } });
    const { id, outage } = await failedRollout(s);

    const blocked = await post(s, "/v1/rollouts", spec("1.2.0", ["web-a"]));
    expect(blocked.statusCode).toBe(409);
    expect(blocked.json()).toMatchObject({ code: "SCALE_SET_BUSY", holderId: id });

    s.sim.removeFault(outage.id);
    expect((await post(s, `/v1/rollouts/${id}/rollback`, { reason: "Azure is back" })).statusCode).toBe(200);
    const done = await phaseIs(s, id, ["rolledBack", "failed"]);
    expect(done.phase).toBe("rolledBack");
    expect(versions(s, "web-a")).toEqual(versions(s, "web-a").map(() => "1.0.0"));
    expect((await post(s, "/v1/rollouts", spec("1.2.0", ["web-a"]))).statusCode).toBe(201);
  }, 120_000);

  it("release hands the scale set back as it is, with the reason in the timeline", async () => {
    const s = await stack({ timeScale: 60, engine: { effectAttempts: 1, rollbackPersistSeconds: 60 } });
    const { id, outage } = await failedRollout(s);
    s.sim.removeFault(outage.id);

    const noReason = await post(s, `/v1/rollouts/${id}/release`, {});
    expect(noReason.statusCode).toBe(400);
    const released = await post(s, `/v1/rollouts/${id}/release`, { reason: "fixed by hand, INC-42" });
    expect(released.statusCode).toBe(200);
    const after = await view(s, id);
    expect(after.phase).toBe("failed");
    expect(after.timeline.find((e: { type: string }) => e.type === "rollout.released")?.message).toContain(
      "fixed by hand, INC-42",
    );
    expect((await post(s, `/v1/rollouts/${id}/release`, { reason: "again" })).statusCode).toBe(409);
    expect((await post(s, "/v1/rollouts", spec("1.2.0", ["web-a"]))).statusCode).toBe(201);
  }, 120_000);
});

describe("the model guard", () => {
  it("issues no further manual upgrade on a scale set whose model someone else changed during the bake", async () => {
    const s = await stack({ timeScale: 60 });
    const { id } = (await post(s, "/v1/rollouts", spec("1.1.0", ["web-a"], { bakeSeconds: 120 }))).json();
    await phaseIs(s, id, ["baking"]);
    s.sim.foreignModelWrite("web-a", { gallery: "demoGallery", image: "web", version: "1.5.0" });
    const writtenAt = s.sim.simulatedMs();

    const done = await phaseIs(s, id, ["failed", "rolledBack", "completed"]);
    expect(done.phase).toBe("failed");
    expect(done.reason).toMatch(/someone else/);
    expect(done.reason).toContain("1.5.0");
    expect(s.sim.requestLog({ operation: upgrades, scaleSet: "web-a", sinceSimulatedMs: writtenAt })).toEqual(
      [],
    );
    expect(await modelVersion(s, "web-a")).toBe("1.5.0");
  });
});

describe("pause", () => {
  it("arriving while a batch is upgrading: no new upgrade starts until resume", async () => {
    const s = await stack({ timeScale: 20 });
    const { id } = (await post(s, "/v1/rollouts", spec("1.1.0", ["web-a"], { bakeSeconds: 0 }))).json();
    await until("the canary's manual upgrade", async () =>
      s.sim.requestLog({ operation: upgrades, scaleSet: "web-a" }).length > 0 ? true : undefined,
    );
    expect((await post(s, `/v1/rollouts/${id}/pause`, { reason: "change freeze" })).statusCode).toBe(200);
    const pausedAt = s.sim.simulatedMs();
    // Long enough for the canary to come back, its gates to pass and, without the pause, the next batch to start.
    await new Promise((r) => setTimeout(r, 6_000));
    expect((await view(s, id)).phase).toBe("paused");
    expect(s.sim.requestLog({ operation: upgrades, scaleSet: "web-a", sinceSimulatedMs: pausedAt })).toEqual(
      [],
    );

    const resumedAt = s.sim.simulatedMs();
    expect((await post(s, `/v1/rollouts/${id}/resume`, {})).statusCode).toBe(200);
    const done = await phaseIs(s, id, ["completed", "rolledBack", "failed"]);
    expect(done.phase).toBe("completed");
    expect(
      s.sim.requestLog({ operation: upgrades, scaleSet: "web-a", sinceSimulatedMs: resumedAt }).length,
    ).toBeGreaterThan(0);
  }, 90_000);
});
