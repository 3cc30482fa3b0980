/**
 * The composition root: Redis (a configured node or cluster, or a private one), Azure access
 * (real or the in-process simulator), the engine and the API. Everything is built here and
 * nowhere else, and torn down in the reverse order.
 */
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { buildApi } from "../api/app.ts";
import { type CanarydMetrics, createMetrics } from "../api/metrics.ts";
import { ApprovalStore } from "../approvals/approval-store.ts";
import { createAzureAdapters } from "../azure/adapters.ts";
import { createAzureAccess } from "../azure/credentials.ts";
import type { Config } from "../config/schema.ts";
import { createEffectExecutor } from "../effects/create-effect-executor.ts";
import { createEngine, type Engine, type EngineTiming } from "../engine/service/engine.ts";
import { engineKeys } from "../engine/store/keys.ts";
import { createRedisClient } from "../engine/store/redis-connection.ts";
import { createArmInventoryReader } from "../inventory/arm-reader.ts";
import { InventoryService } from "../inventory/inventory-service.ts";
import { createResourceGraphInventoryReader } from "../inventory/resource-graph-reader.ts";
import type { Logger } from "../logging/logger.ts";
import { type RunningSimulator, startSimulator } from "../simulator/index.ts";
import { instrumentExecutor } from "./instrumented-executor.ts";
import { type PrivateRedis, startPrivateRedis } from "./private-redis.ts";

export interface DaemonOptions {
  config: Config;
  logger: Logger;
  /** Run the simulator in-process on this scenario and point the Azure clients at it. */
  simulateScenario?: string;
  /** Simulated seconds per second, for the simulator and the engine's timers alike. */
  timeScale?: number;
  /** Where the daemon keeps its own files (private Redis, simulator state). */
  varDir?: string;
}

export interface Daemon {
  /** The API's base URL. */
  url: string;
  /** The Redis node in use; unset on a Redis Cluster (see `config.redis.clusterNodes`). */
  redisUrl?: string;
  simulator?: RunningSimulator;
  close(): Promise<void>;
}

export class AuthNotConfiguredError extends Error {
  readonly code = "AUTH_NOT_CONFIGURED";
  constructor() {
    super(
      "no API tokens are configured: add auth.tokens (or CANARYD_API_TOKENS=name:role:sha256), " +
        "or turn authentication off explicitly with CANARYD_AUTH_DISABLED=true (demos only, never in production)",
    );
    this.name = "AuthNotConfiguredError";
  }
}

export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const { logger } = options;
  const varDir = options.varDir ?? "var";
  const timeScale = options.timeScale ?? 1;
  let config = options.config;
  if (!config.auth.disabled && config.auth.tokens.length === 0) throw new AuthNotConfiguredError();

  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const closeOne of closers.reverse()) {
      await closeOne().catch((error: unknown) => logger.error({ err: error }, "error while shutting down"));
    }
  };

  try {
    // A cluster's nodes are given; its URL, if any, only carries credentials.
    const { clusterNodes } = config.redis;
    const onCluster = clusterNodes.length > 0;
    const redisUrl =
      config.redis.url ?? (onCluster ? undefined : await startOwnRedis(config, logger, closers));
    if (onCluster) logger.info({ clusterNodes }, "using a Redis Cluster");

    let simulator: RunningSimulator | undefined;
    if (options.simulateScenario) {
      simulator = await startSimulator({
        scenario: options.simulateScenario,
        port: 0,
        timeScale,
        stateFile: join(varDir, "simulator-state.json"),
        connectionFile: join(varDir, "simulator.json"),
        certDir: join(varDir, "simulator-certs"),
      });
      const running = simulator;
      closers.push(() => running.close());
      config = {
        ...config,
        azure: {
          ...config.azure,
          credential: "connectionFile",
          connectionFile: join(varDir, "simulator.json"),
        },
      };
      logger.info(
        {
          scenario: options.simulateScenario,
          resourceManager: simulator.connection.resourceManagerEndpoint,
          timeScale,
        },
        "simulated Azure fleet running in-process; connection file at %s",
        join(varDir, "simulator.json"),
      );
    }

    const metrics = createMetrics();
    const azureAccess = await createAzureAccess(config.azure);
    const inventoryReader = createArmInventoryReader(azureAccess, {
      onAzureCall: (call) => metrics.azureCall(call.operation, call.status),
    });
    const resourceGraphReader = createResourceGraphInventoryReader(azureAccess, {
      onAzureCall: (call) => metrics.azureCall(call.operation, call.status),
      maxQuotaWaitSeconds: config.inventory.resourceGraph.maxQuotaWaitSeconds,
    });
    const approvalsRedis = createRedisClient({ url: redisUrl, clusterNodes }, { maxRetriesPerRequest: 3 });
    approvalsRedis.on("error", (error: Error) =>
      logger.warn({ reason: error.message }, "redis connection error"),
    );
    closers.push(async () => void approvalsRedis.disconnect());
    const approvals = new ApprovalStore({
      redis: approvalsRedis,
      key: engineKeys(config.redis.keyPrefix).approvals,
      readImageVersion: (id) => inventoryReader.readImageVersion(id),
      now: () => new Date(),
    });
    const engine = await startEngine(
      config,
      { redisUrl, clusterNodes },
      logger,
      metrics,
      timeScale,
      approvals,
    );
    closers.push(() => engine.stop());

    const inventory = new InventoryService({
      reader: inventoryReader,
      resourceGraph: resourceGraphReader,
      rollouts: engine.service,
      approvals,
      config,
      now: () => new Date(),
    });
    const api = await buildApi({
      service: engine.service,
      config,
      logger,
      metrics,
      inventory,
      approvals,
      emergencyStop: engine.emergencyStop,
      ...(engine.notifier ? { notifications: engine.notifier } : {}),
    });
    closers.push(() => api.close());
    const url = await listen(api, config);
    logger.info({ url }, "canaryd is serving");
    return {
      url,
      ...(redisUrl && !onCluster ? { redisUrl } : {}),
      ...(simulator ? { simulator } : {}),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

async function startOwnRedis(
  config: Config,
  logger: Logger,
  closers: (() => Promise<void>)[],
): Promise<string> {
  const redis: PrivateRedis = await startPrivateRedis({ dataDir: config.redis.privateDataDir });
  closers.push(() => redis.stop());
  logger.info(
    { port: redis.port, pid: redis.pid, reused: redis.reused, dataDir: config.redis.privateDataDir },
    redis.reused
      ? "reusing the private redis-server left by an earlier run"
      : "started a private redis-server",
  );
  return redis.url;
}

async function startEngine(
  config: Config,
  redis: { redisUrl: string | undefined; clusterNodes: string[] },
  logger: Logger,
  metrics: CanarydMetrics,
  timeScale: number,
  approvals: ApprovalStore,
): Promise<Engine> {
  const access = await createAzureAccess(config.azure);
  const azure = createAzureAdapters(access, {
    onAzureCall: (call) => {
      metrics.azureCall(call.operation, call.status);
      if (call.status === 429) metrics.azureThrottled(call.operation);
    },
  });
  const executeEffect = instrumentExecutor(
    createEffectExecutor({
      azure,
      config: config.engine,
      allowLatestFor: config.engine.allowLatestFor,
      policy: config.policy,
      approvals,
      onMetricsCalls: (calls) => metrics.metricsCallsPerEvaluation(calls),
      gates: config.gates,
      windows: config,
    }),
    metrics,
  );
  const engine = createEngine({
    ...redis,
    config,
    executeEffect,
    logger,
    metrics,
    timing: engineTiming(config.engine, timeScale),
  });
  await engine.start();
  return engine;
}

/** The engine's takeover and retry timings, from configuration. */
function engineTiming(engine: Config["engine"], timeScale: number): Partial<EngineTiming> {
  return {
    timeScale,
    retryBackoffMs: engine.retryBackoffSeconds * 1000,
    retryBackoffCapMs: engine.retryBackoffMaxSeconds * 1000,
    jobLockMs: engine.jobLockSeconds * 1000,
    stalledIntervalMs: engine.stalledCheckSeconds * 1000,
    recoveryIntervalMs: engine.recoverySweepSeconds * 1000,
    stepLockTtlMs: engine.stepLockSeconds * 1000,
    // Long enough to outlast one holder's lock, so a waiting step is not retried for nothing.
    stepLockWaitMs: engine.stepLockSeconds * 1000 + 1000,
  };
}

async function listen(api: FastifyInstance, config: Config): Promise<string> {
  await api.listen({ host: config.server.host, port: config.server.port });
  const address = api.server.address();
  const port = typeof address === "object" && address ? address.port : config.server.port;
  const host = config.server.host.includes(":") ? `[${config.server.host}]` : config.server.host;
  return `http://${host}:${port}`;
}
