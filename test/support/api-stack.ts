/**
 * The API over the real engine, the real Azure SDK clients and the simulator (demo scenario, time
 * compressed), with real Redis, in-process: what end-to-end tests through the API drive. Each call
 * of `stack()` starts a fresh simulator and engine under its own Redis key prefix; call
 * `closeStacks()` in `afterEach` to stop them and delete their keys and files. The simulator's
 * request log is the witness of what canaryd asked Azure to do.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { pino } from "pino";
import { buildApi } from "../../src/api/app.ts";
import { createMetrics } from "../../src/api/metrics.ts";
import { type AzureAdapters, createAzureAdapters } from "../../src/azure/adapters.ts";
import { createAzureAccess } from "../../src/azure/credentials.ts";
import type { Config } from "../../src/config/schema.ts";
import { createEffectExecutor } from "../../src/effects/create-effect-executor.ts";
import { createEngine, type Engine } from "../../src/engine/service/engine.ts";
import { type RunningSimulator, startSimulator } from "../../src/simulator/index.ts";
import { removeKeys } from "../integration/engine/support/harness.ts";
import { defaultConfig } from "./default-config.ts";

const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
export const subscription =
  "/subscriptions/5f2b8c1e-3a4d-4e6f-9b0a-1c2d3e4f5a6b/resourceGroups/rg-demo/providers/Microsoft.Compute";
export const scaleSet = (name: string) => `${subscription}/virtualMachineScaleSets/${name}`;
export const version = (v: string) => `${subscription}/galleries/demoGallery/images/web/versions/${v}`;
const logger = pino({ level: process.env.LOG_LEVEL ?? "silent" });

export interface Stack {
  sim: RunningSimulator;
  azure: AzureAdapters;
  engine: Engine;
  app: FastifyInstance;
  prefix: string;
  dir: string;
}

export interface StackOptions {
  /** Simulated seconds per wall-clock second, for the simulator and the engine alike. */
  timeScale: number;
  engine?: Partial<Config["engine"]>;
  /** The simulator's metric noise seed (default: the scenario's). */
  seed?: number;
  /** Simulated seconds before a minute's metrics are readable (default 0: read at once). */
  metricsIngestionDelaySeconds?: number;
  /** Change windows and freezes (config `windows`, `freezes`; default none). */
  windows?: Config["windows"];
  freezes?: Config["freezes"];
}

const stacks: Stack[] = [];

export async function stack(options: StackOptions): Promise<Stack> {
  const dir = await mkdtemp(join(tmpdir(), "canaryd-api-"));
  const prefix = `{cdapi-${randomBytes(5).toString("hex")}}`;
  const connectionFile = join(dir, "simulator.json");
  const sim = await startSimulator({
    scenario: "config/simulator/demo.yaml",
    port: 0,
    timeScale: options.timeScale,
    lroRetryAfterSeconds: 0,
    metricsIngestionDelaySeconds: options.metricsIngestionDelaySeconds ?? 0,
    ...(options.seed === undefined ? {} : { seed: options.seed }),
    fresh: true,
    connectionFile,
    stateFile: join(dir, "state.json"),
    certDir: dir,
  });
  const config: Config = {
    ...defaultConfig,
    redis: { ...defaultConfig.redis, url: redisUrl, keyPrefix: prefix },
    azure: { ...defaultConfig.azure, credential: "connectionFile", connectionFile },
    engine: {
      ...defaultConfig.engine,
      pollIntervalSeconds: 1,
      gateRetrySeconds: 1,
      replicationPollSeconds: 1,
      ...options.engine,
    },
    auth: { disabled: true, tokens: [] },
    windows: options.windows ?? [],
    freezes: options.freezes ?? [],
  };
  const azure = createAzureAdapters(await createAzureAccess(config.azure));
  const engine = createEngine({
    redisUrl,
    config,
    executeEffect: createEffectExecutor({
      azure,
      config: config.engine,
      allowLatestFor: [],
      windows: config,
    }),
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
    emergencyStop: engine.emergencyStop,
  });
  const s = { sim, azure, engine, app, prefix, dir };
  stacks.push(s);
  return s;
}

/** Stops every stack started since the last call and deletes its Redis keys and files. */
export async function closeStacks(): Promise<void> {
  for (const s of stacks.splice(0)) {
    await s.app.close();
    await s.engine.stop();
    await s.sim.close();
    await removeKeys(s.prefix);
    await rm(s.dir, { recursive: true, force: true });
  }
}

export async function post(s: Stack, url: string, payload?: unknown) {
  return s.app.inject({
    method: "POST",
    url,
    ...(payload === undefined ? {} : { payload: payload as object }),
  });
}

export async function view(s: Stack, id: string) {
  return (await s.app.inject({ url: `/v1/rollouts/${id}` })).json();
}

export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  limitMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const found = await probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const phaseIs = (s: Stack, id: string, phases: string[], limitMs?: number) =>
  until(
    `phase ${phases.join("|")}`,
    async () => {
      const v = await view(s, id);
      return phases.includes(v.phase) ? v : undefined;
    },
    limitMs,
  );
