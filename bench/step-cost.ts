/**
 * `node bench/step-cost.ts [--sizes 10,100] [--instances 20] [--out file]`: figure (a′), the cost
 * of a step against the fleet's size. For each size it runs workload (a) alone (one rollout of N
 * scale sets × 20 instances in 4 waves, zero Azure latency, a fresh simulator, daemon and Redis)
 * and reports steps per wall second and per daemon CPU second, the step's wall time and the
 * snapshot's size at the end. If a step cost the same whatever the fleet size, steps per CPU
 * second would be flat across sizes. Writes bench/results/step-cost-latest.json by default.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Config } from "../src/config/schema.ts";
import { startSimulator } from "../src/simulator/index.ts";
import { startBenchDaemon } from "./daemon-client.ts";
import { benchScenario, type FleetShape } from "./fleet.ts";
import { startBenchRedis } from "./redis-server.ts";
import { round } from "./stats.ts";
import { type BenchContext, runWaveRollout } from "./workloads.ts";

const { values: args } = parseArgs({
  options: {
    sizes: { type: "string", default: "10,100" },
    instances: { type: "string", default: "20" },
    deadline: { type: "string", default: "120" },
    out: { type: "string", default: new URL("./results/step-cost-latest.json", import.meta.url).pathname },
  },
});
const sizes = (args.sizes ?? "10,100").split(",").map(Number);
const instances = Number(args.instances);
const loadAtStart = loadavg()[0] ?? Number.NaN;

const rows = [];
for (const scaleSets of sizes) {
  const shape: FleetShape = {
    waveScaleSets: scaleSets,
    waveInstances: instances,
    waves: 4,
    // (b) does not run here; the scenario still wants the fields.
    singleRollouts: 0,
    singleInstances: 1,
  };
  const engine: Partial<Config["engine"]> = {
    pollIntervalSeconds: 0,
    gateRetrySeconds: 0.1,
    replicationPollSeconds: 0.1,
    maxParallelScaleSets: Math.min(50, Math.ceil(scaleSets / shape.waves)),
    workerConcurrency: 16,
  };
  const dir = await mkdtemp(join(tmpdir(), "canaryd-stepcost-"));
  const redis = await startBenchRedis();
  const simulator = await startSimulator({
    scenario: benchScenario(shape),
    port: 0,
    timeScale: 1_000_000,
    lroRetryAfterSeconds: 0,
    fresh: true,
    connectionFile: join(dir, "simulator.json"),
    certDir: join(dir, "certs"),
  });
  try {
    const ctx: BenchContext = {
      shape,
      simulator,
      redis,
      startDaemon: () =>
        startBenchDaemon({ redisUrl: redis.url, connectionFile: join(dir, "simulator.json"), engine }),
      pollIntervalSeconds: 0,
      maxParallelScaleSets: engine.maxParallelScaleSets ?? 1,
      apiRate: 0,
      keyPrefix: "{canaryd}",
      deadlineMs: Number(args.deadline) * 1000,
    };
    const a = await runWaveRollout(ctx);
    const row = {
      scaleSets,
      instances,
      finished: a.finished,
      wallMs: round(a.wallMs),
      orchestrationMs: a.orchestrationMs,
      steps: a.steps.steps,
      commits: a.steps.commits,
      stepsPerSecond: round(a.steps.stepsPerSecond),
      stepsPerCpuSecond: round(a.steps.steps / (a.daemon.cpuMs / 1000)),
      cpuMs: round(a.daemon.cpuMs),
      stepMsMedian: a.steps.stepMs.median,
      stepMsP99: a.steps.stepMs.p99,
      snapshotBytes: a.snapshotBytes,
      headerBytes: a.headerBytes,
      peakRssBytes: a.daemon.peakRssBytes,
    };
    rows.push(row);
    process.stderr.write(`step-cost: ${JSON.stringify(row)}\n`);
  } finally {
    await simulator.close();
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
const result = {
  at: new Date().toISOString(),
  machine: { cpus: cpus().length, loadAverage1m: [round(loadAtStart), round(loadavg()[0] ?? Number.NaN)] },
  rows,
};
await writeFile(args.out ?? "", `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result, null, 2));
