/**
 * `npm run bench` (`node bench/run.ts [--quick]`): canaryd against the simulated fleet with zero
 * Azure latency and zero bake, side by side with the az-script baseline. Prints a table and
 * writes bench/results/latest.json. See docs/performance.md.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Config } from "../src/config/schema.ts";
import { startSimulator } from "../src/simulator/index.ts";
import { startBenchDaemon } from "./daemon-client.ts";
import { benchScenario, fullShape, quickShape } from "./fleet.ts";
import { startBenchRedis } from "./redis-server.ts";
import { type BenchResult, printReport } from "./report.ts";
import { round } from "./stats.ts";
import {
  type BenchContext,
  runConcurrentRollouts,
  runLastWaveRollback,
  runWaveBaseline,
  runWaveRollout,
} from "./workloads.ts";

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    out: { type: "string", default: new URL("./results/latest.json", import.meta.url).pathname },
    /** Seconds one workload may run before it is reported unfinished. */
    deadline: { type: "string" },
    /** Prints the table of a saved result instead of running. */
    print: { type: "string" },
  },
});
if (args.print) {
  printReport(JSON.parse(await readFile(args.print, "utf8")) as BenchResult);
  process.exit(0);
}
const shape = args.quick ? quickShape : fullShape;
const deadlineSeconds = Number(args.deadline ?? 60);

/** The simulator: every Azure duration zero, LRO Retry-After zero, simulated time 10^6 × wall time. */
const simulatorSettings = {
  timeScale: 1_000_000,
  lroRetryAfterSeconds: 0,
  modelUpdateSeconds: 0,
  instanceUpgradeSeconds: 0,
  replicationSeconds: 0,
};
/** canaryd's polls and timers at their minimum; the rest of config/default.yaml as shipped. */
const engineSettings: Partial<Config["engine"]> = {
  pollIntervalSeconds: 0,
  gateRetrySeconds: 0.1,
  replicationPollSeconds: 0.1,
  maxParallelScaleSets: Math.min(50, Math.ceil(shape.waveScaleSets / shape.waves)),
  workerConcurrency: 16,
};
const apiRate = 500;
/** The list's readers (dashboards, pipelines listing) beside the detail reads: measured apart. */
const apiListRate = 100;

const loadAtStart = loadavg()[0] ?? Number.NaN;
const dir = await mkdtemp(join(tmpdir(), "canaryd-bench-"));
const redis = await startBenchRedis();
const closers: (() => Promise<void>)[] = [
  () => rm(dir, { recursive: true, force: true }),
  () => redis.stop(),
];
const closeAll = async () => {
  for (const close of closers.reverse()) await close();
};
process.once("SIGINT", () => void closeAll().finally(() => process.exit(130)));

try {
  const simulator = await startSimulator({
    scenario: benchScenario(shape),
    port: 0,
    timeScale: simulatorSettings.timeScale,
    lroRetryAfterSeconds: simulatorSettings.lroRetryAfterSeconds,
    fresh: true,
    connectionFile: join(dir, "simulator.json"),
    certDir: join(dir, "certs"),
  });
  closers.push(() => simulator.close());
  const startDaemon = () =>
    startBenchDaemon({
      redisUrl: redis.url,
      connectionFile: join(dir, "simulator.json"),
      engine: engineSettings,
    });
  const idleDaemon = await startDaemon();
  const idle = await idleDaemon.stats();
  await idleDaemon.stop();

  const ctx: BenchContext = {
    shape,
    simulator,
    startDaemon,
    redis,
    pollIntervalSeconds: engineSettings.pollIntervalSeconds ?? 0,
    maxParallelScaleSets: engineSettings.maxParallelScaleSets ?? 1,
    apiRate,
    apiListRate,
    keyPrefix: "{canaryd}",
    deadlineMs: deadlineSeconds * 1000,
  };

  const progress = (text: string) => process.stderr.write(`bench: ${text}\n`);
  progress(
    `(a) one rollout, ${shape.waveScaleSets} scale sets × ${shape.waveInstances} instances, ${shape.waves} waves`,
  );
  const waves = await runWaveRollout(ctx);
  progress("baseline: the az script over the same fleet");
  const baseline = await runWaveBaseline(ctx);
  progress(
    `(b) ${shape.singleRollouts} concurrent rollouts × ${shape.singleInstances} instances, API load ${apiRate} + ${apiListRate} (list) req/s`,
  );
  const concurrent = await runConcurrentRollouts(ctx);
  progress("(c) the wave rollout failing its last wave, rolled back");
  const rollback = await runLastWaveRollback(ctx);

  const result: BenchResult = {
    at: new Date().toISOString(),
    mode: args.quick ? "quick" : "full",
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? "unknown",
      memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      // Other processes on the machine take CPU from the daemon: the 1-minute load average at
      // start and end says how much (it is noise when it exceeds the CPU count).
      loadAverage1m: [round(loadAtStart), round(loadavg()[0] ?? Number.NaN)],
    },
    settings: {
      shape,
      simulator: simulatorSettings,
      engine: engineSettings,
      spec: {
        canary: { instances: 1 },
        batchPercent: 50,
        bakeSeconds: 0,
        gates: ["instanceHealth", "bootDiagnostics"],
      },
      apiLoad: {
        rate: apiRate,
        connections: 20,
        endpoint: "GET /v1/rollouts/{id}",
        listRate: apiListRate,
        listEndpoint: "GET /v1/rollouts?limit=20",
      },
      deadlineSeconds,
    },
    waves,
    baseline,
    ratios: {
      armCallsPerInstance: waves.armPerInstance / baseline.armPerInstance,
      armCallsPerInstanceVsBatchedBaseline: waves.armPerInstance / baseline.armPerInstanceBatchedUpgrades,
      // Only a finished rollout has a wall time to compare.
      wallTime: waves.finished ? waves.wallMs / baseline.wallMs : null,
    },
    concurrent,
    rollback,
    daemon: {
      idleRssBytes: idle.rssBytes,
      peakRssBytes: Math.max(
        waves.daemon.peakRssBytes,
        concurrent.daemon.peakRssBytes,
        rollback.daemon.peakRssBytes,
      ),
    },
  };
  printReport(result);
  await writeFile(args.out, `${JSON.stringify(result, null, 2)}\n`);
  progress(`wrote ${args.out}`);
} finally {
  await closeAll();
}
