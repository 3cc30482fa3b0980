/**
 * The daemon's composition for reliability tests, in-process: the simulator's demo fleet (reached
 * through the real SDK clients), an engine on a Redis (node or cluster) of the test's choosing, and the API over it.
 * Like src/daemon/daemon.ts, with the engine's timings shortened so recovery shows in seconds.
 */
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { pino } from "pino";
import { buildApi } from "../../src/api/app.ts";
import type { Config } from "../../src/config/schema.ts";
import type { RolloutView } from "../../src/domain/rollout-view.ts";
import { terminalPhases } from "../../src/domain/rollout-view.ts";
import { type RolloutSpec, rolloutSpecSchema } from "../../src/domain/spec.ts";
import { createEffectExecutor } from "../../src/effects/create-effect-executor.ts";
import { createEngine, type Engine, type EngineTiming } from "../../src/engine/service/engine.ts";
import { type DemoFleet, startDemoFleet } from "../integration/azure/demo-simulator.ts";
import { testConfig, testPrefix } from "../integration/engine/support/harness.ts";

export interface StackOptions {
  /** One Redis node, or (with `clusterNodes`) only the cluster's credentials. */
  redisUrl?: string;
  /** Seed nodes (`host:port`) of a Redis Cluster to run on instead. */
  clusterNodes?: string[];
  /** Defaults to a fresh hash-tagged prefix. */
  prefix?: string;
  auth?: Config["auth"];
  server?: Partial<Config["server"]>;
  logger?: Logger;
  timing?: Partial<EngineTiming>;
  /** An existing fleet to drive; the stack starts (and closes) its own otherwise. */
  fleet?: DemoFleet;
  /** Engine settings over the stack's own (e.g. `queueShards`). */
  engine?: Partial<Config["engine"]>;
}

export interface Stack {
  fleet: DemoFleet;
  engine: Engine;
  api: FastifyInstance;
  prefix: string;
  config: Pick<Config, "redis" | "engine" | "server" | "auth">;
  /** Stops the API and the engine, and the fleet when the stack started it. */
  close(): Promise<void>;
}

/** Engine timings for tests: stalled jobs and outbox entries are picked up within about a second. */
export const reliabilityTiming: Partial<EngineTiming> = {
  jobLockMs: 2_000,
  stalledIntervalMs: 1_000,
  recoveryIntervalMs: 1_000,
  retryBackoffMs: 200,
  stopGraceMs: 2_000,
  waitRecheckMs: 500,
  timeScale: 60,
};

export async function startStack(options: StackOptions): Promise<Stack> {
  const ownFleet = !options.fleet;
  const fleet = options.fleet ?? (await startDemoFleet({ timeScale: 60 }));
  const prefix = options.prefix ?? testPrefix();
  const base = testConfig(prefix);
  const config = {
    redis: { ...base.redis, url: options.redisUrl ?? null, clusterNodes: options.clusterNodes ?? [] },
    engine: {
      ...base.engine,
      pollIntervalSeconds: 0.05,
      gateRetrySeconds: 5,
      inconclusiveTimeoutSeconds: 60,
      upgradeTimeoutSeconds: 300,
      // The demo's new versions finish replicating 4 simulated seconds after the fleet starts.
      replicationPollSeconds: 1,
      replicationTimeoutSeconds: 600,
      ...options.engine,
    },
    server: {
      host: "127.0.0.1",
      port: 0,
      bodyLimitBytes: 1_048_576,
      mutationsPerMinute: 10_000,
      ...options.server,
    },
    auth: options.auth ?? { disabled: true, tokens: [] },
  };
  const logger = options.logger ?? pino({ level: "silent" });
  const executeEffect = createEffectExecutor({
    azure: fleet.azure,
    config: config.engine,
    allowLatestFor: [],
  });
  const engine = createEngine({
    redisUrl: options.redisUrl,
    clusterNodes: options.clusterNodes,
    config,
    executeEffect,
    logger,
    timing: { ...reliabilityTiming, ...options.timing },
  });
  try {
    await engine.start();
  } catch (error) {
    await engine.stop();
    if (ownFleet) await fleet.close();
    throw error;
  }
  const api = await buildApi({
    service: engine.service,
    config,
    logger,
    heartbeatMs: 1_000,
    maxWaitSeconds: 5,
  });
  await api.ready();
  return {
    fleet,
    engine,
    api,
    prefix,
    config,
    async close() {
      await api.close();
      await engine.stop();
      if (ownFleet) await fleet.close();
    },
  };
}

/** A demo rollout of `version` over the scale sets named, one wave each, with a bake. */
export function demoSpec(
  fleet: DemoFleet,
  version: string,
  waves: string[][] = [["web-a"], ["web-b"]],
  extra: Record<string, unknown> = {},
): RolloutSpec {
  return rolloutSpecSchema.parse({
    name: `web-${version}`,
    image: { galleryImageVersionId: fleet.versionId(version) },
    waves: waves.map((names, i) => ({
      name: `wave-${i + 1}`,
      scaleSets: names.map((n) => fleet.scaleSetId(n)),
    })),
    strategy: { canary: { instances: 1 }, batchPercent: 50, bakeSeconds: 60, maxParallelScaleSets: 2 },
    gates: [{ kind: "instanceHealth" }, { kind: "bootDiagnostics" }],
    ...extra,
  });
}

/**
 * Polls the rollout until `done` says so, tolerating a store that is away meanwhile (the point of
 * these tests); throws with the last phase seen after `timeoutMs`.
 */
export async function pollRollout(
  engine: Engine,
  id: string,
  done: (view: RolloutView) => boolean,
  timeoutMs = 60_000,
): Promise<RolloutView> {
  const deadline = Date.now() + timeoutMs;
  let last: RolloutView | undefined;
  for (;;) {
    last = (await engine.service.get(id).catch(() => undefined)) ?? last;
    if (last && done(last)) return last;
    if (Date.now() > deadline)
      throw new Error(`rollout ${id} did not get there within ${timeoutMs} ms (last seen: ${last?.phase})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export const isTerminal = (view: RolloutView) => terminalPhases.has(view.phase);

/** The version every instance of each named scale set runs. */
export function versionsOf(fleet: DemoFleet, names: string[]): Record<string, (string | undefined)[]> {
  return Object.fromEntries(
    names.map((n) => [n, fleet.sim.instanceImages(fleet.scaleSetId(n)).map((i) => i.version)]),
  );
}
