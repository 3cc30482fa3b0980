/**
 * `npm run bench:revert-latency` (`node bench/revert-latency.ts [options]`): figure (c) as issue 14
 * states it, "failed gate -> first revert request < 100 ms (p99 over 20 trials), also during (b)".
 *
 * Each trial is a small failing rollout (default 4 scale sets × 5 instances in 2 waves, on a fleet
 * of its own): the spec's `bootDiagnostics.failOn` matches only the serial console of the last
 * wave's VMs, as workload (c) of `npm run bench` does, so the real gate fails on the last wave's
 * canaries and the rollout rolls back every scale set it changed. Measured per trial, as (c) is:
 * from the failing gate result's `measuredAt` to the first `PATCH` writing a scale set's model back
 * (a scale set's second model write in the rollout), from the simulator's request log of the
 * trial's scale sets; also to the step that began the rollback and to the last revert.
 *
 * Two phases, each with a fresh daemon process on an emptied private Redis, the simulator and
 * engine settings of `npm run bench` (zero Azure latency, `pollIntervalSeconds` 0):
 *   alone:  `--trials` (20) trials one after another, nothing else running;
 *   loaded: the same while (b) runs: `--concurrent` (200) one-scale-set rollouts kept in flight
 *           (when one ends, another starts on its scale set, to the other version), and
 *           autocannon reads them through the API at `--api-rate` (500) requests/s from its own
 *           process (bench/api-load.ts). Trials start once all of (b)'s rollouts exist.
 * Percentiles are nearest-rank (bench/stats.ts): over 20 trials the p99 is the largest. A trial
 * that sent no revert within `--trial-deadline` (120 s) is reported and left out of the
 * percentiles; the loaded phase stops starting trials after `--deadline` (780 s) of its own. Prints the
 * figures and writes bench/results/revert-latency.json (`--out`).
 */
import { fork } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Config } from "../src/config/schema.ts";
import { startSimulator } from "../src/simulator/index.ts";
import type { ApiLoadOptions, ApiLoadResult } from "./api-load.ts";
import { type BenchDaemon, startBenchDaemon } from "./daemon-client.ts";
import {
  benchScenario,
  type FleetShape,
  lastWaveFailurePattern,
  singleRolloutSpec,
  versions,
  type WaveFleet,
  waveRolloutSpec,
} from "./fleet.ts";
import { startBenchRedis } from "./redis-server.ts";
import { round, summary } from "./stats.ts";
import { type RevertLatency, revertLatency } from "./workloads.ts";

const { values: args } = parseArgs({
  options: {
    trials: { type: "string", default: "20" },
    "trial-scale-sets": { type: "string", default: "4" },
    "trial-instances": { type: "string", default: "5" },
    "trial-waves": { type: "string", default: "2" },
    concurrent: { type: "string", default: "200" },
    "concurrent-instances": { type: "string", default: "10" },
    "api-rate": { type: "string", default: "500" },
    "trial-deadline": { type: "string", default: "120" },
    deadline: { type: "string", default: "780" },
    /** Runs only one phase: alone or loaded. */
    phase: { type: "string" },
    out: { type: "string", default: new URL("./results/revert-latency.json", import.meta.url).pathname },
  },
});

const trials = Number(args.trials);
const concurrent = Number(args.concurrent);
const apiRate = Number(args["api-rate"]);
const trialDeadlineMs = Number(args["trial-deadline"]) * 1000;
const phaseDeadlineMs = Number(args.deadline) * 1000;
const trialShape: FleetShape = {
  waveScaleSets: Number(args["trial-scale-sets"]),
  waveInstances: Number(args["trial-instances"]),
  waves: Number(args["trial-waves"]),
  singleRollouts: concurrent,
  singleInstances: Number(args["concurrent-instances"]),
};
const phases = args.phase ? [args.phase] : ["alone", "loaded"];
const trialFleet = (phase: string, trial: number): WaveFleet =>
  `t${phase[0]}${String(trial).padStart(2, "0")}x`;

/** As `npm run bench` (bench/run.ts): every Azure duration zero, canaryd's polls at their minimum. */
const engine: Partial<Config["engine"]> = {
  pollIntervalSeconds: 0,
  gateRetrySeconds: 0.1,
  replicationPollSeconds: 0.1,
  maxParallelScaleSets: Math.min(50, Math.ceil(trialShape.waveScaleSets / trialShape.waves)),
  workerConcurrency: 16,
};

interface Trial extends RevertLatency {
  fleet: string;
  phase: string;
  finished: boolean;
  wallMs: number;
  /** (b)'s rollouts in flight when the trial started (loaded phase). */
  inFlight?: number;
}

const progress = (text: string) => process.stderr.write(`revert-latency: ${text}\n`);
const dir = await mkdtemp(join(tmpdir(), "canaryd-revert-latency-"));
const redis = await startBenchRedis();
const simulator = await startSimulator({
  scenario: benchScenario(trialShape, undefined, [
    ...Array.from({ length: trials }, (_, i) => trialFleet("alone", i)),
    ...Array.from({ length: trials }, (_, i) => trialFleet("loaded", i)),
  ]),
  port: 0,
  timeScale: 1_000_000,
  lroRetryAfterSeconds: 0,
  fresh: true,
  connectionFile: join(dir, "simulator.json"),
  certDir: join(dir, "certs"),
});
const closers: (() => Promise<void>)[] = [
  () => rm(dir, { recursive: true, force: true }),
  () => redis.stop(),
  () => simulator.close(),
];
const closeAll = async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
};
process.once("SIGINT", () => void closeAll().finally(() => process.exit(130)));

async function freshDaemon(): Promise<BenchDaemon> {
  await redis.client.flushall();
  const daemon = await startBenchDaemon({
    redisUrl: redis.url,
    connectionFile: join(dir, "simulator.json"),
    engine,
  });
  await daemon.stats();
  return daemon;
}

async function runTrial(daemon: BenchDaemon, phase: string, index: number): Promise<Trial> {
  const fleet = trialFleet(phase, index);
  const since = new Date().toISOString();
  const t0 = performance.now();
  const spec = waveRolloutSpec(fleet, trialShape, [lastWaveFailurePattern(trialShape, fleet)]);
  const started = await daemon.startRollout(spec);
  const { view, finished } = await daemon.waitTerminal(started.id, t0 + trialDeadlineMs);
  const wallMs = performance.now() - t0;
  const prefix = `/virtualmachinescalesets/${fleet}`;
  const log = simulator.requestLog({ since }).filter((e) => e.path.toLowerCase().includes(prefix));
  const latency = revertLatency(await daemon.timeline(view.id), log);
  return {
    fleet,
    phase,
    finished: finished && view.phase === "rolledBack",
    wallMs: round(wallMs),
    ...latency,
  };
}

function figures(list: Trial[]) {
  // A trial still rolling back at its deadline counts if its first revert was already sent.
  const done = list.filter((t) => Number.isFinite(t.gateToRevertRequestMs));
  return {
    trials: list.length,
    measured: done.length,
    gateToRevertRequestMs: summary(done.map((t) => t.gateToRevertRequestMs)),
    gateToRollbackStepMs: summary(done.map((t) => t.gateToRollbackStepMs)),
    gateToLastRevertRequestMs: summary(done.map((t) => t.gateToLastRevertRequestMs)),
    trialWallMs: summary(done.map((t) => t.wallMs)),
    under100ms: done.filter((t) => t.gateToRevertRequestMs < 100).length,
  };
}

async function alone() {
  const load = [round(loadavg()[0] ?? Number.NaN)];
  const daemon = await freshDaemon();
  const list: Trial[] = [];
  try {
    for (let i = 0; i < trials; i++) {
      list.push(await runTrial(daemon, "alone", i));
      progress(`alone ${i + 1}/${trials}: ${round(list.at(-1)?.gateToRevertRequestMs ?? Number.NaN)} ms`);
    }
  } finally {
    await daemon.stop();
  }
  load.push(round(loadavg()[0] ?? Number.NaN));
  return { loadAverage1m: load, ...figures(list), list };
}

async function loaded() {
  const load = [round(loadavg()[0] ?? Number.NaN)];
  const daemon = await freshDaemon();
  const phaseEnd = performance.now() + phaseDeadlineMs;
  const loadOptions: ApiLoadOptions = { url: daemon.url, rate: apiRate, connections: 20 };
  const apiLoad = fork(new URL("./api-load.ts", import.meta.url), [JSON.stringify(loadOptions)], {
    stdio: ["ignore", "pipe", "inherit", "ipc"],
  });
  let output = "";
  apiLoad.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8");
  });
  await once(apiLoad, "message");

  // (b): `concurrent` one-scale-set rollouts in flight; each slot starts the next on its scale set
  // (to the other version) when one ends, until the trials are done.
  let stopping = false;
  const ids: string[] = [];
  const background = {
    started: 0,
    ended: 0,
    phases: {} as Record<string, number>,
    rolloutMs: [] as number[],
  };
  let inFlight = 0;
  const slot = async (i: number, first: (id: string) => void) => {
    for (let n = 0; !stopping; n++) {
      const version = n % 2 === 0 ? versions.target : versions.initial;
      const view = await daemon.startRollout(singleRolloutSpec(i, version));
      ids[i] = view.id;
      background.started += 1;
      inFlight += 1;
      if (n === 0) first(view.id);
      const t0 = performance.now();
      const end = await daemon.waitTerminal(view.id, Math.min(phaseEnd + 60_000, t0 + 120_000));
      inFlight -= 1;
      if (!end.finished) return;
      background.ended += 1;
      background.phases[end.view.phase] = (background.phases[end.view.phase] ?? 0) + 1;
      background.rolloutMs.push(Date.parse(end.view.updatedAt) - Date.parse(end.view.createdAt));
    }
  };
  const allStarted = Array.from({ length: concurrent }, () => Promise.withResolvers<string>());
  const slots = Array.from({ length: concurrent }, (_, i) =>
    slot(i, (id) => allStarted[i]?.resolve(id)).catch((error: unknown) => {
      // A stopped daemon ends the long polls: only an error before the end is worth telling.
      if (!stopping) progress(`background slot ${i}: ${String(error)}`);
    }),
  );
  await Promise.all(allStarted.map((p) => p.promise));
  apiLoad.send({ type: "start", ids: [...ids] });
  const refresh = setInterval(() => apiLoad.send({ type: "ids", ids: [...ids] }), 1000);
  await daemon.stats(); // from here on, the daemon's figures are those of the trials' time

  const list: Trial[] = [];
  try {
    for (let i = 0; i < trials && performance.now() < phaseEnd; i++) {
      const busy = inFlight;
      list.push({ ...(await runTrial(daemon, "loaded", i)), inFlight: busy });
      progress(
        `loaded ${i + 1}/${trials}: ${round(list.at(-1)?.gateToRevertRequestMs ?? Number.NaN)} ms (${busy} of (b) in flight)`,
      );
    }
  } finally {
    stopping = true;
    clearInterval(refresh);
    apiLoad.send({ type: "stop" });
    await once(apiLoad, "exit");
  }
  const stats = await daemon.stats();
  await daemon.stop();
  await Promise.all(slots);
  load.push(round(loadavg()[0] ?? Number.NaN));
  const api = JSON.parse(output.trim() || "null") as ApiLoadResult | null;
  return {
    loadAverage1m: load,
    ...figures(list),
    background: {
      concurrent,
      instancesEach: trialShape.singleInstances,
      rolloutsStarted: background.started,
      rolloutsEnded: background.ended,
      phases: background.phases,
      rolloutMs: summary(background.rolloutMs),
      stepsDuringTrials: stats.accepted,
      daemonCpuMsDuringTrials: round(stats.cpuUserMs + stats.cpuSystemMs),
      api: api ? { ...api, rate: apiRate } : null,
    },
    list,
  };
}

try {
  const result: Record<string, unknown> = {
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version },
    settings: {
      trials,
      trial: {
        ...trialShape,
        singleRollouts: undefined,
        singleInstances: undefined,
        failingWave: trialShape.waves,
      },
      concurrent: { rollouts: concurrent, instances: trialShape.singleInstances },
      apiLoad: { rate: apiRate, connections: 20, endpoint: "GET /v1/rollouts/{id}" },
      simulator: {
        timeScale: 1_000_000,
        modelUpdateSeconds: 0,
        instanceUpgradeSeconds: 0,
        lroRetryAfterSeconds: 0,
      },
      engine,
      trialDeadlineSeconds: trialDeadlineMs / 1000,
      loadedPhaseDeadlineSeconds: phaseDeadlineMs / 1000,
    },
  };
  for (const phase of phases) {
    progress(
      `${phase}: ${trials} trials of ${trialShape.waveScaleSets} × ${trialShape.waveInstances} failing in wave ${trialShape.waves}`,
    );
    result[phase] = phase === "alone" ? await alone() : await loaded();
    const r = result[phase] as ReturnType<typeof figures> & { loadAverage1m: number[] };
    console.log(
      `${phase}: failed gate -> first revert request median ${r.gateToRevertRequestMs.median} ms, p99 ${r.gateToRevertRequestMs.p99} ms, ` +
        `max ${r.gateToRevertRequestMs.max} ms over ${r.measured} of ${r.trials} trials (${r.under100ms} under 100 ms); ` +
        `-> rollback step median ${r.gateToRollbackStepMs.median} ms; -> last revert median ${r.gateToLastRevertRequestMs.median} ms; ` +
        `load average ${r.loadAverage1m.join(" -> ")}`,
    );
  }
  await writeFile(args.out ?? "", `${JSON.stringify(result, null, 2)}\n`);
  progress(`wrote ${args.out}`);
} finally {
  await closeAll();
}
