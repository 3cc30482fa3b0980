/**
 * The API over the real engine, the real Azure SDK clients and the simulator (time compressed
 * 60x), with real Redis under a key prefix of its own, and a token per role. Used by the release
 * record, inventory and approval tests; `close` removes every key it wrote.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { Redis } from "ioredis";
import { pino } from "pino";
import { buildApi } from "../../../src/api/app.ts";
import { sha256Hex } from "../../../src/api/auth.ts";
import { ApprovalStore } from "../../../src/approvals/approval-store.ts";
import { createAzureAdapters } from "../../../src/azure/adapters.ts";
import { createAzureAccess } from "../../../src/azure/credentials.ts";
import { loadConfig } from "../../../src/config/load-config.ts";
import type { Config } from "../../../src/config/schema.ts";
import { createEffectExecutor } from "../../../src/effects/create-effect-executor.ts";
import { createEngine, type Engine, type EngineTiming } from "../../../src/engine/service/engine.ts";
import { engineKeys } from "../../../src/engine/store/keys.ts";
import { createArmInventoryReader, type InventoryReader } from "../../../src/inventory/arm-reader.ts";
import { InventoryService } from "../../../src/inventory/inventory-service.ts";
import {
  createResourceGraphInventoryReader,
  type ResourceGraphInventoryReader,
} from "../../../src/inventory/resource-graph-reader.ts";
import {
  type RunningSimulator,
  type SimulatorOptions,
  startSimulator,
} from "../../../src/simulator/index.ts";
import { removeKeys } from "../engine/support/harness.ts";

export const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
export const demoSubscriptionId = "5f2b8c1e-3a4d-4e6f-9b0a-1c2d3e4f5a6b";
const compute = `/subscriptions/${demoSubscriptionId}/resourceGroups/rg-demo/providers/Microsoft.Compute`;
export const demoScaleSet = (name: string) => `${compute}/virtualMachineScaleSets/${name}`;
export const demoVersion = (v: string) => `${compute}/galleries/demoGallery/images/web/versions/${v}`;

export type Role = "viewer" | "deployer" | "oncall";

export interface ApiStack {
  app: FastifyInstance;
  engine: Engine;
  simulator: RunningSimulator;
  config: Config;
  inventory: InventoryService;
  inventoryReader: InventoryReader;
  resourceGraphReader: ResourceGraphInventoryReader;
  auth(role: Role): { authorization: string };
  /** Repeats the long-poll until the rollout is terminal; answers its view. */
  waitTerminal(id: string, limitMs?: number): Promise<{ id: string; phase: string; [k: string]: unknown }>;
  close(): Promise<void>;
}

export async function startApiStack(
  options: {
    scenario?: string;
    patch?: (config: Config) => Config;
    /** Simulator options beside the stack's own (Resource Graph page size and quota). */
    simulator?: Pick<SimulatorOptions, "resourceGraphPageSize" | "resourceGraphQuota">;
    timing?: Partial<EngineTiming>;
  } = {},
): Promise<ApiStack> {
  const dir = await mkdtemp(join(tmpdir(), "canaryd-stack-"));
  const prefix = `{cdstack-${randomBytes(5).toString("hex")}}`;
  const tokens = {
    viewer: randomBytes(24).toString("hex"),
    deployer: randomBytes(24).toString("hex"),
    oncall: randomBytes(24).toString("hex"),
  };
  const connectionFile = join(dir, "simulator.json");
  const simulator = await startSimulator({
    scenario: options.scenario ?? "config/simulator/demo.yaml",
    port: 0,
    timeScale: 60,
    lroRetryAfterSeconds: 0,
    fresh: true,
    connectionFile,
    stateFile: join(dir, "state.json"),
    certDir: dir,
    ...options.simulator,
  });
  const defaults = loadConfig({ env: {} });
  const base: Config = {
    ...defaults,
    redis: { ...defaults.redis, url: redisUrl, keyPrefix: prefix },
    azure: { ...defaults.azure, credential: "connectionFile", connectionFile },
    engine: { ...defaults.engine, pollIntervalSeconds: 1, gateRetrySeconds: 1, replicationPollSeconds: 1 },
    auth: {
      disabled: false,
      tokens: (["viewer", "deployer", "oncall"] as const).map((role) => ({
        name: `${role}-bot`,
        sha256: sha256Hex(tokens[role]),
        role,
      })),
    },
  };
  const config = options.patch ? options.patch(base) : base;
  const logger = pino({ level: process.env.LOG_LEVEL ?? "silent" });
  const azure = createAzureAdapters(await createAzureAccess(config.azure));
  const inventoryReader = createArmInventoryReader(await createAzureAccess(config.azure));
  const resourceGraphReader = createResourceGraphInventoryReader(await createAzureAccess(config.azure), {
    maxQuotaWaitSeconds: config.inventory.resourceGraph.maxQuotaWaitSeconds,
  });
  const approvalsRedis = new Redis(redisUrl);
  const approvals = new ApprovalStore({
    redis: approvalsRedis,
    key: engineKeys(prefix).approvals,
    readImageVersion: (id) => inventoryReader.readImageVersion(id),
    now: () => new Date(),
  });
  const engine = createEngine({
    redisUrl,
    config,
    executeEffect: createEffectExecutor({
      azure,
      config: config.engine,
      allowLatestFor: [],
      policy: config.policy,
      approvals,
    }),
    logger,
    timing: {
      timeScale: 60,
      retryBackoffMs: 10,
      waitRecheckMs: 500,
      recoveryIntervalMs: 1000,
      ...options.timing,
    },
  });
  await engine.start();
  const inventory = new InventoryService({
    reader: inventoryReader,
    resourceGraph: resourceGraphReader,
    rollouts: engine.service,
    approvals,
    config,
    now: () => new Date(),
  });
  const app = await buildApi({ service: engine.service, config, logger, inventory, approvals });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const auth = (role: Role) => ({ authorization: `Bearer ${tokens[role]}` });

  return {
    app,
    engine,
    simulator,
    config,
    inventory,
    inventoryReader,
    resourceGraphReader,
    auth,
    async waitTerminal(id, limitMs = 45_000) {
      const deadline = Date.now() + limitMs;
      for (;;) {
        const res = await app.inject({
          url: `/v1/rollouts/${id}/wait?timeoutSeconds=5`,
          headers: auth("viewer"),
        });
        if (res.statusCode === 200) return res.json();
        if (res.statusCode !== 202) throw new Error(`wait answered ${res.statusCode}: ${res.body}`);
        if (Date.now() > deadline) throw new Error(`rollout ${id} still ${res.json().phase}`);
      }
    },
    async close() {
      await app.close();
      await engine.stop();
      approvalsRedis.disconnect();
      await removeKeys(prefix);
      await simulator.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
