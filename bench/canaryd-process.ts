/**
 * canaryd under test, in its own process: the engine, effect executor, Azure adapters and API
 * composed as src/daemon/daemon.ts composes them, plus two probes. Its own process keeps the
 * benchmark's simulator, baseline and load generator out of its CPU and RSS figures.
 *
 * Probes: the machine decider is wrapped to stamp when each step starts deciding, and the
 * engine logger writes to an in-memory stream where each "rollout step" line closes the step
 * (after its Redis commit and BullMQ enqueue). The rollout lock's `SET NX` calls are watched
 * (ioredis' prototype, in this process only) to see how long steps wait for the lock. The parent
 * asks for the figures over IPC.
 *
 * Started by bench/run.ts with one JSON argument (BenchDaemonOptions); answers IPC messages
 * `stats` (step durations and resource usage since the last `stats`) and `stop`.
 */
import { Writable } from "node:stream";
import { Redis } from "ioredis";
import pino from "pino";
import { buildApi } from "../src/api/app.ts";
import { createMetrics } from "../src/api/metrics.ts";
import { createAzureAdapters } from "../src/azure/adapters.ts";
import { createAzureAccess } from "../src/azure/credentials.ts";
import { loadConfig } from "../src/config/load-config.ts";
import type { Config } from "../src/config/schema.ts";
import { createEffectExecutor } from "../src/effects/create-effect-executor.ts";
import type { Decider } from "../src/engine/core/decider.ts";
import { machineDecider, rolloutSettings } from "../src/engine/core/machine-decider.ts";
import { createEngine } from "../src/engine/service/engine.ts";

export interface BenchDaemonOptions {
  /** One Redis node; unused when `clusterNodes` is given. */
  redisUrl: string;
  /** Seed nodes (`host:port`) of a Redis Cluster to run on instead (bench/cluster.ts). */
  clusterNodes?: string[];
  connectionFile: string;
  engine: Partial<Config["engine"]>;
  /**
   * Simulated seconds per wall second, as `canaryd serve --time-scale` (src/daemon/daemon.ts)
   * passes it: the engine's clock runs this much faster and its delays (polls, timers) shrink by
   * it, so configured intervals stay in simulated seconds. Absent: 1.
   */
  timeScale?: number;
}

export interface StepStats {
  /** Wall milliseconds of each step (one commit): decide, commit, enqueue. */
  stepMs: number[];
  /**
   * Events the machine accepted (one "rollout step" line each). A step may apply several queued
   * outcomes of one rollout, so this can exceed the number of steps.
   */
  accepted: number;
  /** Decisions that changed nothing (stale or duplicate outcomes). */
  ignored: number;
  /** Wall milliseconds from a step's first try for the rollout lock until it got it. */
  lockWaitMs: number[];
  /** Lock tries that found the lock busy. */
  lockBusyTries: number;
  maxRssBytes: number;
  rssBytes: number;
  cpuUserMs: number;
  cpuSystemMs: number;
}

export type BenchDaemonMessage = { type: "ready"; url: string } | { type: "stats"; stats: StepStats };

const options = JSON.parse(process.argv[2] ?? "{}") as BenchDaemonOptions;
const base = loadConfig({ env: {} });
const config: Config = {
  ...base,
  server: { ...base.server, host: "127.0.0.1", port: 0, mutationsPerMinute: 1_000_000 },
  redis: options.clusterNodes
    ? { ...base.redis, url: null, clusterNodes: options.clusterNodes }
    : { ...base.redis, url: options.redisUrl },
  azure: { ...base.azure, credential: "connectionFile", connectionFile: options.connectionFile },
  auth: { disabled: true, tokens: [] },
  engine: { ...base.engine, ...options.engine },
};

const decideStarted = new Map<string, number>();
let stepMs: number[] = [];
let accepted = 0;
let ignored = 0;
let lockWaitMs: number[] = [];
let lockBusyTries = 0;

/** Lock tries by token: the first try's time. */
const lockFirstTry = new Map<string, number>();
type SetCall = (this: Redis, ...args: unknown[]) => Promise<unknown>;
const prototype = Redis.prototype as unknown as { set: SetCall };
const originalSet = prototype.set;
prototype.set = function watchedSet(this: Redis, ...args: unknown[]) {
  const [key, token] = args;
  const reply = originalSet.apply(this, args);
  if (typeof key !== "string" || !key.endsWith(":lock") || !args.includes("NX")) return reply;
  const first = lockFirstTry.get(String(token)) ?? performance.now();
  lockFirstTry.set(String(token), first);
  return reply.then((result) => {
    if (result === "OK") {
      lockWaitMs.push(performance.now() - first);
      lockFirstTry.delete(String(token));
    } else lockBusyTries += 1;
    return result;
  });
};

/** Every engine log line passes here; only step lines are read. */
const stepLines = new Writable({
  write(chunk: Buffer, _encoding, done) {
    const now = performance.now();
    const line = chunk.toString("utf8");
    if (line.includes('"msg":"rollout step"')) {
      accepted += 1;
      const { rolloutId } = JSON.parse(line) as { rolloutId: string };
      const started = decideStarted.get(rolloutId);
      if (started !== undefined) stepMs.push(now - started);
      decideStarted.delete(rolloutId);
    } else if (line.includes('ignored"')) {
      ignored += 1;
    }
    done();
  },
});
const logger = pino({ level: "info" }, stepLines);

const machine = machineDecider(rolloutSettings(config.engine));
// biome-ignore lint/suspicious/noExplicitAny: the decider's snapshot type is the machine's own
const decider: Decider<any> = {
  ...machine,
  decide(state, event) {
    decideStarted.set((state as { context: { rolloutId: string } }).context.rolloutId, performance.now());
    return machine.decide(state, event);
  },
};

const access = await createAzureAccess(config.azure);
const azure = createAzureAdapters(access);
const executeEffect = createEffectExecutor({ azure, config: config.engine, allowLatestFor: [] });
const engine = createEngine({
  ...(options.clusterNodes ? { clusterNodes: options.clusterNodes } : { redisUrl: options.redisUrl }),
  config,
  executeEffect,
  decider,
  logger,
  ...(options.timeScale ? { timing: { timeScale: options.timeScale } } : {}),
});
await engine.start();
const api = await buildApi({
  service: engine.service,
  config,
  logger: pino({ level: "silent" }),
  metrics: createMetrics({ defaultMetrics: false }),
});
await api.listen({ host: "127.0.0.1", port: 0 });
const address = api.server.address();
const port = typeof address === "object" && address ? address.port : 0;

let cpu = process.cpuUsage();
const send = (message: BenchDaemonMessage) => process.send?.(message);
process.on("message", (message: { type: string }) => {
  if (message.type === "stats") {
    const usage = process.cpuUsage(cpu);
    cpu = process.cpuUsage();
    send({
      type: "stats",
      stats: {
        stepMs,
        accepted,
        ignored,
        lockWaitMs,
        lockBusyTries,
        maxRssBytes: process.resourceUsage().maxRSS * 1024,
        rssBytes: process.memoryUsage.rss(),
        cpuUserMs: usage.user / 1000,
        cpuSystemMs: usage.system / 1000,
      },
    });
    stepMs = [];
    accepted = 0;
    ignored = 0;
    lockWaitMs = [];
    lockBusyTries = 0;
  } else if (message.type === "stop") {
    void (async () => {
      await api.close();
      await engine.stop();
      process.exit(0);
    })();
  }
});
send({ type: "ready", url: `http://127.0.0.1:${port}` });
