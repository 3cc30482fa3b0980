/**
 * The inventory benchmark: GET /v1/inventory over a simulated fleet of 100 scale sets × 20
 * instances (one resource group), through the real SDK clients, the real API and real Redis
 * (for the rollout join), from both sources: Resource Manager listings and Azure Resource Graph
 * (`?source=`). For each, measures the cold read (refresh=true) and the cached answer, and counts
 * every HTTP call to Azure by operation from the simulator's request log. Writes
 * bench/results/inventory.json. Run: `node bench/inventory.ts [scaleSets] [instances]`.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { pino } from "pino";
import { buildApi } from "../src/api/app.ts";
import { createAzureAccess } from "../src/azure/credentials.ts";
import { loadConfig } from "../src/config/load-config.ts";
import type { Config } from "../src/config/schema.ts";
import { createEngine } from "../src/engine/service/engine.ts";
import { createArmInventoryReader } from "../src/inventory/arm-reader.ts";
import { InventoryService } from "../src/inventory/inventory-service.ts";
import { createResourceGraphInventoryReader } from "../src/inventory/resource-graph-reader.ts";
import { parseScenario, startSimulator } from "../src/simulator/index.ts";
import { countRequests } from "./arm-calls.ts";
import { resourceGroup, subscriptionId } from "./fleet.ts";
import { round, summary } from "./stats.ts";

const scaleSets = Number(process.argv[2] ?? 100);
const instances = Number(process.argv[3] ?? 20);
const warmRequests = 20;
const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

const dir = await mkdtemp(join(tmpdir(), "canaryd-bench-inventory-"));
const simulator = await startSimulator({
  scenario: parseScenario({
    subscriptionId,
    resourceGroups: [
      {
        name: resourceGroup,
        galleries: [
          {
            name: "benchGallery",
            location: "westeurope",
            images: [{ name: "web", versions: [{ name: "1.0.0", targetRegions: ["westeurope"] }] }],
          },
        ],
        scaleSets: Array.from({ length: scaleSets }, (_, i) => ({
          name: `inv${String(i).padStart(3, "0")}`,
          capacity: instances,
          location: "westeurope",
          image: { gallery: "benchGallery", image: "web", version: "1.0.0" },
        })),
      },
    ],
  }),
  port: 0,
  fresh: true,
  connectionFile: join(dir, "simulator.json"),
  certDir: join(dir, "certs"),
});
const defaults = loadConfig({ env: {} });
const prefix = `{bench-inv-${randomBytes(4).toString("hex")}}`;
const config: Config = {
  ...defaults,
  redis: { ...defaults.redis, url: redisUrl, keyPrefix: prefix },
  azure: { ...defaults.azure, credential: "connectionFile", connectionFile: join(dir, "simulator.json") },
  auth: { disabled: true, tokens: [] },
  inventory: { ...defaults.inventory, cacheSeconds: 3600 },
};
const logger = pino({ level: "silent" });
const engine = createEngine({
  redisUrl,
  config,
  executeEffect: async () => {
    throw new Error("the inventory benchmark runs no effects");
  },
  logger,
});
const reader = createArmInventoryReader(await createAzureAccess(config.azure));
const resourceGraph = createResourceGraphInventoryReader(await createAzureAccess(config.azure), {
  maxQuotaWaitSeconds: config.inventory.resourceGraph.maxQuotaWaitSeconds,
});
const inventory = new InventoryService({
  reader,
  resourceGraph,
  rollouts: engine.service,
  config,
  now: () => new Date(),
});
const app = await buildApi({ service: engine.service, config, logger, inventory });
await app.ready();

const url = `/v1/inventory?subscriptionId=${subscriptionId}&resourceGroup=${resourceGroup}`;
async function timed(
  path: string,
): Promise<{ ms: number; body: { scaleSets: { instances: { total: number } }[] } }> {
  const started = performance.now();
  const res = await app.inject({ url: path });
  const ms = performance.now() - started;
  if (res.statusCode !== 200)
    throw new Error(`inventory answered ${res.statusCode}: ${res.body.slice(0, 300)}`);
  return { ms, body: res.json() };
}

async function measure(source: "arm" | "resourceGraph") {
  simulator.clearRequestLog();
  const cold = await timed(`${url}&source=${source}&refresh=true`);
  const coldCalls = countRequests(simulator.requestLog());
  const seen = cold.body.scaleSets.reduce((n, s) => n + s.instances.total, 0);
  if (cold.body.scaleSets.length !== scaleSets || seen !== scaleSets * instances)
    throw new Error(`${source}: inventory saw ${cold.body.scaleSets.length} scale sets, ${seen} instances`);
  simulator.clearRequestLog();
  const warm: number[] = [];
  for (let i = 0; i < warmRequests; i++) warm.push((await timed(`${url}&source=${source}`)).ms);
  const warmCalls = countRequests(simulator.requestLog());
  return {
    coldMs: round(cold.ms, 0),
    coldCalls: coldCalls.arm,
    coldByOperation: coldCalls.byOperation,
    cachedMs: Object.fromEntries(Object.entries(summary(warm)).map(([k, v]) => [k, round(v, 1)])),
    cachedCalls: warmCalls.arm,
  };
}

const result = {
  at: new Date().toISOString(),
  fleet: { scaleSets, instancesPerScaleSet: instances, instances: scaleSets * instances },
  arm: await measure("arm"),
  resourceGraph: await measure("resourceGraph"),
  concurrency: config.inventory.concurrency,
};
console.log(JSON.stringify(result, null, 2));
await writeFile("bench/results/inventory.json", `${JSON.stringify(result, null, 2)}\n`);

await app.close();
await engine.stop();
const redis = new Redis(redisUrl);
const keys = await redis.keys(`${prefix}*`);
if (keys.length > 0) await redis.del(...keys);
redis.disconnect();
await simulator.close();
await rm(dir, { recursive: true, force: true });
