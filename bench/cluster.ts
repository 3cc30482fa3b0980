/**
 * `npm run bench:cluster` (`node bench/cluster.ts [--rollouts 200] [--shards 1,2,3] [--deadline 180]`):
 * figure (e), canaryd on a private Redis Cluster of three masters (loopback, free ports, nothing
 * on disk), once per `engine.queueShards` value. Each run: a fresh cluster-wide FLUSHALL and
 * CONFIG RESETSTAT, a fresh canaryd process (bench/canaryd-process.ts, `redis.clusterNodes`) and
 * a fresh simulator, then N concurrent one-scale-set rollouts (10 instances each, zero Azure
 * latency, as in figure (b)). Every 500 ms each master is sampled on its own connection (no
 * redirection): DBSIZE, its keys by kind (a SCAN: rollout state under the prefix's tag, each queue
 * shard's keys, job hashes per shard) and commands processed; at the end INFO commandstats and
 * CPU per master. Prints a table and writes bench/results/cluster.json.
 *
 * Everything it started (daemon, simulator, cluster, temp dir) is stopped at the end, on an
 * error, on SIGINT, and when the whole run passes its deadline (--deadline seconds per run, plus
 * a minute): the process then exits with what it has.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import type { Config } from "../src/config/schema.ts";
import { effectQueueName } from "../src/engine/queue/effect-queue.ts";
import { shardOf, shardPrefixes } from "../src/engine/queue/queue-shards.ts";
import { startSimulator } from "../src/simulator/index.ts";
import { startOwnCluster } from "../test/support/reliability-redis.ts";
import { type BenchDaemon, startBenchDaemon } from "./daemon-client.ts";
import { benchScenario, type FleetShape, singleRolloutSpec } from "./fleet.ts";
import { round } from "./stats.ts";

const { values: args } = parseArgs({
  options: {
    rollouts: { type: "string", default: "200" },
    shards: { type: "string", default: "1,2,3" },
    deadline: { type: "string", default: "180" },
    out: { type: "string", default: new URL("./results/cluster.json", import.meta.url).pathname },
  },
});
const rollouts = Number(args.rollouts);
const shardCounts = (args.shards ?? "1,2,3").split(",").map(Number);
const deadlineSeconds = Number(args.deadline);
const prefix = "{canaryd}";
const shape: FleetShape = {
  waveScaleSets: 0,
  waveInstances: 0,
  waves: 1,
  singleRollouts: rollouts,
  singleInstances: 10,
};
/** As figure (b): polls and timers at their minimum, workerConcurrency as shipped. */
const engineSettings: Partial<Config["engine"]> = {
  pollIntervalSeconds: 0,
  gateRetrySeconds: 0.1,
  replicationPollSeconds: 0.1,
  workerConcurrency: 16,
};

type Kind = "state" | `shard${number}` | "other";

interface MasterSample {
  dbsize: number;
  keys: Record<string, number>;
  /** Job hashes (`<shard prefix>:effects:<rolloutId>.<effectId>`) on this master. */
  jobs: number;
}

interface MasterFigures {
  port: number;
  /** Which of canaryd's keys this master serves: `state` (the prefix's slot) and/or queue shards. */
  serves: string[];
  peakDbsize: number;
  meanDbsize: number;
  peakKeysByKind: Record<string, number>;
  peakJobs: number;
  meanJobs: number;
  commands: number;
  commandShare: number;
  evalshaCalls: number;
  cpuSeconds: number;
}

interface RunFigures {
  queueShards: number;
  rollouts: number;
  finished: number;
  phases: Record<string, number>;
  wallMs: number;
  samples: number;
  rolloutsPerShard: number[];
  masters: MasterFigures[];
}

const results: RunFigures[] = [];
const closers: (() => Promise<unknown>)[] = [];
const closeAll = async () => {
  while (closers.length > 0)
    await closers
      .pop()?.()
      .catch(() => {});
};
const overall = setTimeout(
  () => {
    process.stderr.write("bench:cluster: past the deadline; stopping everything\n");
    void closeAll().finally(() => process.exit(2));
  },
  (deadlineSeconds * shardCounts.length + 60) * 1000,
);
overall.unref();
process.once("SIGINT", () => void closeAll().finally(() => process.exit(130)));
const progress = (text: string) => process.stderr.write(`bench:cluster: ${text}\n`);

function kindOf(key: string, shards: string[]): Kind {
  // With one shard the queue shares the prefix: its keys are told apart by the queue name.
  for (const [i, shard] of shards.entries()) {
    if (key.startsWith(`${shard}:${effectQueueName}:`)) return `shard${i}`;
  }
  return key.startsWith(`${prefix}:`) ? "state" : "other";
}

async function sampleMaster(client: Redis, shards: string[]): Promise<MasterSample> {
  const keys: Record<string, number> = {};
  let jobs = 0;
  let cursor = "0";
  do {
    const [next, batch] = await client.scan(cursor, "COUNT", 1000);
    cursor = next;
    for (const key of batch) {
      const kind = kindOf(key, shards);
      keys[kind] = (keys[kind] ?? 0) + 1;
      const rest = key.slice(key.indexOf(`:${effectQueueName}:`) + effectQueueName.length + 2);
      if (kind.startsWith("shard") && rest.includes(".") && !rest.includes(":")) jobs += 1;
    }
  } while (cursor !== "0");
  return { dbsize: await client.dbsize(), keys, jobs };
}

function infoField(info: string, field: string): number {
  const match = new RegExp(`^${field}:([\\d.]+)`, "m").exec(info);
  return match ? Number(match[1]) : 0;
}

async function runOnce(
  ports: number[],
  clients: Redis[],
  queueShards: number,
  dir: string,
): Promise<RunFigures> {
  const shards = shardPrefixes(prefix, queueShards);
  await Promise.all(clients.map((c) => c.flushall()));
  await Promise.all(clients.map((c) => c.config("RESETSTAT")));
  const simulator = await startSimulator({
    scenario: benchScenario(shape),
    port: 0,
    timeScale: 1_000_000,
    lroRetryAfterSeconds: 0,
    fresh: true,
    connectionFile: join(dir, `simulator-${queueShards}.json`),
    certDir: join(dir, `certs-${queueShards}`),
  });
  closers.push(() => simulator.close());
  const daemon: BenchDaemon = await startBenchDaemon({
    redisUrl: "",
    clusterNodes: ports.map((port) => `127.0.0.1:${port}`),
    connectionFile: join(dir, `simulator-${queueShards}.json`),
    engine: { ...engineSettings, queueShards },
  });
  closers.push(() => daemon.stop());
  const cpuBefore = await Promise.all(
    clients.map(async (c) => {
      const info = await c.info("cpu");
      return infoField(info, "used_cpu_sys") + infoField(info, "used_cpu_user");
    }),
  );

  const samples: MasterSample[][] = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      samples.push(await Promise.all(clients.map((c) => sampleMaster(c, shards))));
      await sleep(500);
    }
  })();

  const t0 = performance.now();
  const started = await Promise.all(
    Array.from({ length: rollouts }, (_, i) => daemon.startRollout(singleRolloutSpec(i))),
  );
  const waits = await Promise.all(
    started.map((view) => daemon.waitTerminal(view.id, t0 + deadlineSeconds * 1000)),
  );
  const wallMs = performance.now() - t0;
  sampling = false;
  await sampler;

  const masters: MasterFigures[] = await Promise.all(
    clients.map(async (c, m) => {
      const stats = await c.info("stats");
      const commandstats = await c.info("commandstats");
      const cpu = await c.info("cpu");
      const own = samples.map((s) => s[m] as MasterSample);
      const kinds = new Set(own.flatMap((s) => Object.keys(s.keys)));
      const peakKeysByKind: Record<string, number> = {};
      for (const kind of [...kinds].sort())
        peakKeysByKind[kind] = Math.max(...own.map((s) => s.keys[kind] ?? 0));
      const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
      return {
        port: ports[m] ?? 0,
        serves: Object.keys(peakKeysByKind).filter((kind) => kind !== "other"),
        peakDbsize: Math.max(0, ...own.map((s) => s.dbsize)),
        meanDbsize: round(mean(own.map((s) => s.dbsize)), 1),
        peakKeysByKind,
        peakJobs: Math.max(0, ...own.map((s) => s.jobs)),
        meanJobs: round(mean(own.map((s) => s.jobs)), 1),
        // RESETSTAT zeroed it; the sampler's own SCAN/DBSIZE/INFO are counted too (same on every master).
        commands: infoField(stats, "total_commands_processed"),
        commandShare: 0,
        evalshaCalls: Number(/^cmdstat_evalsha:calls=(\d+)/m.exec(commandstats)?.[1] ?? 0),
        cpuSeconds: round(
          infoField(cpu, "used_cpu_sys") + infoField(cpu, "used_cpu_user") - (cpuBefore[m] ?? 0),
          2,
        ),
      };
    }),
  );
  const total = masters.reduce((n, m) => n + m.commands, 0);
  for (const master of masters) master.commandShare = round(master.commands / Math.max(1, total), 3);

  const phases: Record<string, number> = {};
  for (const { view } of waits) phases[view.phase] = (phases[view.phase] ?? 0) + 1;
  const rolloutsPerShard = shards.map(() => 0);
  for (const view of started) {
    const shard = shardOf(view.id, queueShards);
    rolloutsPerShard[shard] = (rolloutsPerShard[shard] ?? 0) + 1;
  }
  await closers.pop()?.(); // the daemon
  await closers.pop()?.(); // the simulator
  return {
    queueShards,
    rollouts,
    finished: waits.filter((w) => w.finished).length,
    phases,
    wallMs: round(wallMs, 0),
    samples: samples.length,
    rolloutsPerShard,
    masters,
  };
}

function printTable(run: RunFigures): void {
  const lines = [
    `queueShards ${run.queueShards}: ${run.finished}/${run.rollouts} finished in ${(run.wallMs / 1000).toFixed(1)} s (${JSON.stringify(run.phases)}), ${run.samples} samples, rollouts per shard ${run.rolloutsPerShard.join(" / ")}`,
    "  master  serves                      peak DBSIZE  mean DBSIZE  peak jobs  mean jobs  commands  share  evalsha  CPU s",
    ...run.masters.map(
      (m) =>
        `  ${String(m.port).padEnd(6)}  ${m.serves.join(",").padEnd(26)}  ${String(m.peakDbsize).padStart(11)}  ${String(m.meanDbsize).padStart(11)}  ${String(m.peakJobs).padStart(9)}  ${String(m.meanJobs).padStart(9)}  ${String(m.commands).padStart(8)}  ${m.commandShare.toFixed(2).padStart(5)}  ${String(m.evalshaCalls).padStart(7)}  ${m.cpuSeconds.toFixed(2).padStart(5)}`,
    ),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

const dir = await mkdtemp(join(tmpdir(), "canaryd-bench-cluster-"));
closers.push(() => rm(dir, { recursive: true, force: true }));
try {
  progress("starting a Redis Cluster of three masters");
  const cluster = await startOwnCluster(3);
  closers.push(() => cluster.destroy());
  const clients = cluster.ports.map((port) => {
    const client = new Redis({ port, host: "127.0.0.1", maxRetriesPerRequest: 1 });
    client.on("error", () => {});
    return client;
  });
  closers.push(async () => {
    for (const client of clients) client.disconnect();
  });
  for (const queueShards of shardCounts) {
    progress(`queueShards ${queueShards}: ${rollouts} concurrent rollouts`);
    const run = await runOnce(cluster.ports, clients, queueShards, dir);
    results.push(run);
    printTable(run);
  }
  await writeFile(
    args.out ?? "bench/results/cluster.json",
    `${JSON.stringify(
      {
        at: new Date().toISOString(),
        machine: { cpus: cpus().length, model: cpus()[0]?.model ?? "", loadAtEnd: loadavg()[0] },
        masters: 3,
        prefix,
        engine: engineSettings,
        shape: { rollouts, instancesPerRollout: shape.singleInstances },
        runs: results,
      },
      null,
      2,
    )}\n`,
  );
  progress(`wrote ${args.out}`);
} finally {
  clearTimeout(overall);
  await closeAll();
}
