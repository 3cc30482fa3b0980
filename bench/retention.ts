/**
 * The retention benchmark: Redis memory of one finished rollout before and after compaction.
 * Runs real rollouts (1 scale set × 10 instances each, canary 1 then batches of 50 %, gates
 * instanceHealth and bootDiagnostics, as bench/fleet.ts's single rollouts) against the simulator
 * through the real SDK clients, the real engine and real Redis (own key prefix); once each is
 * completed, sums `MEMORY USAGE <key> SAMPLES 0` over every key of that rollout (snapshot hash,
 * timeline, outbox, dead letters, effect jobs left in BullMQ; after: the compacted key), compacts
 * it with the engine's Retention, and sums again. Also one wave rollout (8 scale sets × 10
 * instances in 2 waves) for how the figure grows with the fleet. Index entries (the id in the
 * all/phase/scale-set sorted sets, ~100 bytes each) are the same before and after and not counted.
 * Prints medians and writes bench/results/retention.json. Run: `node bench/retention.ts [rollouts]`.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { pino } from "pino";
import { createAzureAdapters } from "../src/azure/adapters.ts";
import { createAzureAccess } from "../src/azure/credentials.ts";
import { loadConfig } from "../src/config/load-config.ts";
import type { Config } from "../src/config/schema.ts";
import { rolloutSpecSchema } from "../src/domain/spec.ts";
import { createEffectExecutor } from "../src/effects/create-effect-executor.ts";
import { createEngine } from "../src/engine/service/engine.ts";
import { encodeCompacted } from "../src/engine/store/retention.ts";
import { startSimulator } from "../src/simulator/index.ts";
import { benchScenario, type FleetShape, singleRolloutSpec, waveRolloutSpec } from "./fleet.ts";
import { median, round } from "./stats.ts";

const rollouts = Number(process.argv[2] ?? 9);
const shape: FleetShape = {
  waveScaleSets: 8,
  waveInstances: 10,
  waves: 2,
  singleRollouts: rollouts,
  singleInstances: 10,
};
const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const dir = await mkdtemp(join(tmpdir(), "canaryd-bench-retention-"));
const simulator = await startSimulator({
  scenario: benchScenario(shape),
  port: 0,
  timeScale: 1_000_000,
  lroRetryAfterSeconds: 0,
  fresh: true,
  connectionFile: join(dir, "simulator.json"),
  certDir: join(dir, "certs"),
});
const defaults = loadConfig({ env: {} });
const prefix = `{bench-ret-${randomBytes(4).toString("hex")}}`;
const config: Config = {
  ...defaults,
  redis: { ...defaults.redis, url: redisUrl, keyPrefix: prefix },
  azure: { ...defaults.azure, credential: "connectionFile", connectionFile: join(dir, "simulator.json") },
  auth: { disabled: true, tokens: [] },
  engine: {
    ...defaults.engine,
    pollIntervalSeconds: 0,
    gateRetrySeconds: 0.1,
    replicationPollSeconds: 0.1,
    maxParallelScaleSets: 8,
  },
};
const azure = createAzureAdapters(await createAzureAccess(config.azure));
const engine = createEngine({
  redisUrl,
  config,
  executeEffect: createEffectExecutor({ azure, config: config.engine, allowLatestFor: [] }),
  logger: pino({ level: "silent" }),
});
await engine.start();
const redis = new Redis(redisUrl);
const actor = { id: "bench", role: "deployer" as const };

/** Every key of one rollout and what Redis says it costs. */
async function footprint(id: string): Promise<{ bytes: number; keys: Record<string, number> }> {
  const found: string[] = [];
  for (const pattern of [`${prefix}:rollout:${id}*`, `${prefix}:effects:${id}.*`]) {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
      found.push(...keys);
      cursor = next;
    } while (cursor !== "0");
  }
  const keys: Record<string, number> = {};
  for (const key of found) {
    const bytes = Number(await redis.call("MEMORY", "USAGE", key, "SAMPLES", "0"));
    keys[key.slice(prefix.length + 1).replace(id, "<id>")] = bytes;
  }
  return { bytes: Object.values(keys).reduce((a, b) => a + b, 0), keys };
}

interface Sample {
  before: number;
  after: number;
  timelineEntries: number;
  recordJsonBytes: number;
  compactedBytes: number;
  keysBefore: Record<string, number>;
  keysAfter: Record<string, number>;
}

async function measure(spec: unknown): Promise<Sample> {
  const view = await engine.service.start(rolloutSpecSchema.parse(spec), { actor });
  const done = await engine.service.waitForTerminal(view.id, 120_000);
  if (done.phase !== "completed") throw new Error(`rollout ${view.id} ended ${done.phase}: ${done.reason}`);
  const timelineEntries = (await engine.service.timeline(view.id)).length;
  const before = await footprint(view.id);
  const outcome = await engine.retention.compact(view.id, new Date(Date.now() + 2 * 86_400_000));
  if (outcome !== "compacted") throw new Error(`compaction of ${view.id}: ${outcome}`);
  const after = await footprint(view.id);
  const compacted = await engine.retention.load(view.id);
  if (!compacted) throw new Error(`no compacted record for ${view.id}`);
  return {
    before: before.bytes,
    after: after.bytes,
    timelineEntries,
    recordJsonBytes: Buffer.byteLength(JSON.stringify(compacted.record)),
    compactedBytes: encodeCompacted(compacted).length,
    keysBefore: before.keys,
    keysAfter: after.keys,
  };
}

try {
  const singles: Sample[] = [];
  for (let i = 0; i < rollouts; i++) singles.push(await measure(singleRolloutSpec(i)));
  const wave = await measure(waveRolloutSpec("a", shape));
  const med = (pick: (s: Sample) => number) => median(singles.map(pick));
  const result = {
    at: new Date().toISOString(),
    redis: (await redis.info("server")).match(/redis_version:(\S+)/)?.[1],
    single: {
      rollouts,
      shape: "1 scale set × 10 instances, canary 1 + 50 % batches, instanceHealth + bootDiagnostics",
      medianBytesBefore: med((s) => s.before),
      medianBytesAfter: med((s) => s.after),
      medianRatio: round(
        med((s) => s.before / s.after),
        1,
      ),
      medianTimelineEntries: med((s) => s.timelineEntries),
      medianRecordJsonBytes: med((s) => s.recordJsonBytes),
      medianCompactedValueBytes: med((s) => s.compactedBytes),
      keysBefore: singles[0]?.keysBefore,
      keysAfter: singles[0]?.keysAfter,
    },
    wave: {
      shape: "8 scale sets × 10 instances in 2 waves",
      bytesBefore: wave.before,
      bytesAfter: wave.after,
      ratio: round(wave.before / wave.after, 1),
      timelineEntries: wave.timelineEntries,
      recordJsonBytes: wave.recordJsonBytes,
      compactedValueBytes: wave.compactedBytes,
      keysBefore: wave.keysBefore,
      keysAfter: wave.keysAfter,
    },
  };
  console.log(JSON.stringify(result, null, 2));
  await writeFile("bench/results/retention.json", `${JSON.stringify(result, null, 2)}\n`);
} finally {
  await engine.stop();
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
  await simulator.close();
  await rm(dir, { recursive: true, force: true });
}
