/**
 * `npm run bench:arm-realistic` (`node bench/arm-realistic.ts [options]`): figure (d), Resource
 * Manager requests per upgraded instance of canaryd and of the az-script baseline WITH REALISTIC
 * DURATIONS: a model write takes `--model-seconds` (30) and an instance upgrade
 * `--upgrade-seconds` (180) of simulated time, run `--time-scale` (20) times faster than the wall
 * clock, and each tool polls at its own interval in simulated seconds. `npm run bench` measures
 * at zero latency, where a poll always finds the work done; here polling costs what it costs.
 *
 * Four tools run at the same time over identical fleets (N scale sets × M instances in W waves,
 * default 20 × 10 in 4), each against its own simulator so its request log is its own:
 * canaryd (a fresh daemon process on a private Redis, `engine.pollIntervalSeconds` from
 * config/default.yaml unless `--canaryd-poll`, its engine clock accelerated by the time scale as
 * `canaryd serve --time-scale` does) with the bench spec as is (continuous analysis every 60 s,
 * the default) and again with `strategy.analysis.intervalSeconds` 3600 (longer than a scale set
 * takes here, so gates run only when a batch is back, as the script's do); the az script polling
 * every `--script-poll` (15) seconds, and the same script polling at canaryd's interval (what
 * bench/baseline.ts assumes in `npm run bench`). The scripts use one `update-instances --instance-ids <batch> --no-wait` per
 * batch and `az vmss update`'s LRO is polled every `--script-lro-poll` (30) seconds, az's SDK
 * default when Azure sends no Retry-After (the simulator sends `Retry-After: 0`, which the SDK
 * treats as absent). Same plan (canary 1, then 50 %), same gates (instanceHealth, bootDiagnostics),
 * same parallelism (a wave's scale sets at once), no bake.
 *
 * Upgraded instances are read from the simulators (instances running the target version), the same
 * way for every tool. Each tool has a deadline (`--deadline`, 360 wall seconds); one still running
 * then is reported unfinished with what it did, and the script stops itself. Prints a table and
 * writes bench/results/arm-realistic.json (`--out`).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { loadConfig } from "../src/config/load-config.ts";
import type { Config } from "../src/config/schema.ts";
import type { RunningSimulator } from "../src/simulator/index.ts";
import { startSimulator } from "../src/simulator/index.ts";
import { type AzureRequestCounts, countRequests, perInstance } from "./arm-calls.ts";
import { runBaseline } from "./baseline.ts";
import { startBenchDaemon } from "./daemon-client.ts";
import {
  benchScenario,
  type FleetShape,
  type FleetTiming,
  imageVersionId,
  resourceGroup,
  scaleSetId,
  versions,
  type WaveFleet,
  waveRolloutSpec,
  waveScaleSetNames,
} from "./fleet.ts";
import { startBenchRedis } from "./redis-server.ts";
import { round } from "./stats.ts";

const { values: args } = parseArgs({
  options: {
    "scale-sets": { type: "string", default: "20" },
    instances: { type: "string", default: "10" },
    waves: { type: "string", default: "4" },
    "time-scale": { type: "string", default: "20" },
    "model-seconds": { type: "string", default: "30" },
    "upgrade-seconds": { type: "string", default: "180" },
    "canaryd-poll": { type: "string" },
    "script-poll": { type: "string", default: "15" },
    "script-lro-poll": { type: "string", default: "30" },
    deadline: { type: "string", default: "360" },
    out: { type: "string", default: new URL("./results/arm-realistic.json", import.meta.url).pathname },
  },
});

const shape: FleetShape = {
  waveScaleSets: Number(args["scale-sets"]),
  waveInstances: Number(args.instances),
  waves: Number(args.waves),
  singleRollouts: 0,
  singleInstances: 1,
};
const timing: FleetTiming = {
  modelUpdateSeconds: Number(args["model-seconds"]),
  instanceUpgradeSeconds: Number(args["upgrade-seconds"]),
};
const timeScale = Number(args["time-scale"]);
const deadlineMs = Number(args.deadline) * 1000;
const perWave = Math.min(50, Math.ceil(shape.waveScaleSets / shape.waves));
const shipped = loadConfig({ env: {} }).engine;
/** canaryd as shipped (config/default.yaml) but for the wave's parallelism, which the script shares. */
const engine: Partial<Config["engine"]> = {
  maxParallelScaleSets: perWave,
  ...(args["canaryd-poll"] ? { pollIntervalSeconds: Number(args["canaryd-poll"]) } : {}),
};
const canarydPoll = engine.pollIntervalSeconds ?? shipped.pollIntervalSeconds;
const scriptPoll = Number(args["script-poll"]);
const scriptLroPoll = Number(args["script-lro-poll"]);

interface ToolFigures {
  tool: string;
  fleet: WaveFleet;
  pollSeconds: number;
  finished: boolean;
  outcome: string;
  wallMs: number;
  /** Wall time × time scale: roughly how long the rollout would take on Azure. */
  simulatedMinutes: number;
  upgradedInstances: number;
  plannedInstances: number;
  batches: number;
  requests: AzureRequestCounts;
  armPerInstance: number;
  perInstance: Record<string, number>;
  /** Status polls (canaryd: paged VM lists; script: instance views) per batch, against upgrade / poll. */
  pollsPerBatch: number;
  idealPollsPerBatch: number;
  daemonCpuMs?: number;
  /** canaryd: gates.evaluated timeline entries by verdict, and the first results that did not pass. */
  gateEvaluations?: Record<string, number>;
  notPassed?: string[];
}

const loadAtStart = loadavg()[0] ?? Number.NaN;
const dir = await mkdtemp(join(tmpdir(), "canaryd-arm-realistic-"));
const closers: (() => Promise<void>)[] = [() => rm(dir, { recursive: true, force: true })];
const closeAll = async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
};
process.once("SIGINT", () => void closeAll().finally(() => process.exit(130)));

async function simulatorFor(name: string): Promise<RunningSimulator> {
  const simulator = await startSimulator({
    scenario: benchScenario(shape, timing),
    port: 0,
    timeScale,
    lroRetryAfterSeconds: 0,
    fresh: true,
    connectionFile: join(dir, `${name}.json`),
    certDir: join(dir, `certs-${name}`),
  });
  closers.push(() => simulator.close());
  return simulator;
}

/** Instances of the fleet running the target version, read from the simulator. */
function upgradedIn(simulator: RunningSimulator, fleet: WaveFleet): number {
  return waveScaleSetNames(fleet, shape)
    .flat()
    .reduce(
      (n, name) =>
        n + simulator.instanceImages(scaleSetId(name)).filter((i) => i.version === versions.target).length,
      0,
    );
}

function figures(
  tool: string,
  fleet: WaveFleet,
  simulator: RunningSimulator,
  run: { finished: boolean; outcome: string; wallMs: number; pollSeconds: number; pollOperation: string },
): ToolFigures {
  const requests = countRequests(simulator.requestLog());
  const upgradedInstances = upgradedIn(simulator, fleet);
  // canary 1, then batchPercent 50 of the capacity: the plan of bench/fleet.ts's specs.
  const batchesPerScaleSet = 1 + Math.ceil((shape.waveInstances - 1) / Math.ceil(shape.waveInstances / 2));
  const batches = batchesPerScaleSet * shape.waveScaleSets;
  return {
    tool,
    fleet,
    pollSeconds: run.pollSeconds,
    finished: run.finished,
    outcome: run.outcome,
    wallMs: round(run.wallMs),
    simulatedMinutes: round((run.wallMs * timeScale) / 60_000, 1),
    upgradedInstances,
    plannedInstances: shape.waveScaleSets * shape.waveInstances,
    batches,
    requests,
    armPerInstance: round(requests.arm / Math.max(1, upgradedInstances), 3),
    perInstance: Object.fromEntries(
      Object.entries(perInstance(requests, Math.max(1, upgradedInstances))).map(([k, v]) => [k, round(v, 3)]),
    ),
    pollsPerBatch: round((requests.byOperation[run.pollOperation] ?? 0) / batches, 1),
    idealPollsPerBatch: round(timing.instanceUpgradeSeconds / run.pollSeconds, 1),
  };
}

/**
 * canaryd over fleet `a` of its own simulator. `analysisSeconds`: the spec's
 * `strategy.analysis.intervalSeconds` (absent: its default, 60 s): continuous analysis evaluates
 * every gate on every instance on the new image at this interval while the scale set moves.
 */
async function runCanaryd(tool: string, analysisSeconds?: number): Promise<ToolFigures> {
  const simulator = await simulatorFor(tool);
  const redis = await startBenchRedis();
  closers.push(() => redis.stop());
  const daemon = await startBenchDaemon({
    redisUrl: redis.url,
    connectionFile: join(dir, `${tool}.json`),
    engine,
    timeScale,
  });
  closers.push(() => daemon.stop());
  await daemon.stats();
  simulator.clearRequestLog();
  const t0 = performance.now();
  const spec = waveRolloutSpec("a", shape);
  if (analysisSeconds !== undefined)
    spec.strategy = { ...spec.strategy, analysis: { intervalSeconds: analysisSeconds } };
  const started = await daemon.startRollout(spec);
  const { view, finished } = await daemon.waitTerminal(started.id, t0 + deadlineMs);
  const wallMs = performance.now() - t0;
  const stats = await daemon.stats();
  // Gate evaluations by verdict: an inconclusive one is retried after engine.gateRetrySeconds and
  // reads every boot log again, which shows in the request counts.
  const gateEvaluations: Record<string, number> = {};
  const inconclusive: string[] = [];
  for (const entry of await daemon.timeline(view.id)) {
    if (entry.type !== "gates.evaluated") continue;
    const verdict = String(entry.data?.verdict);
    gateEvaluations[verdict] = (gateEvaluations[verdict] ?? 0) + 1;
    const results = (entry.data?.results ?? []) as { gate: string; verdict: string; summary: string }[];
    for (const r of results)
      if (r.verdict !== "passed" && inconclusive.length < 5) inconclusive.push(`${r.gate}: ${r.summary}`);
  }
  return {
    ...figures(tool, "a", simulator, {
      finished,
      outcome: view.phase,
      wallMs,
      pollSeconds: canarydPoll,
      pollOperation: "virtualMachineScaleSetVMs.list",
    }),
    daemonCpuMs: round(stats.cpuUserMs + stats.cpuSystemMs),
    gateEvaluations,
    notPassed: inconclusive,
  };
}

async function runScript(tool: string, fleet: WaveFleet, pollSeconds: number): Promise<ToolFigures> {
  const simulator = await simulatorFor(tool);
  simulator.clearRequestLog();
  const t0 = performance.now();
  const run = runBaseline({
    connection: simulator.connection,
    resourceGroup,
    waves: waveScaleSetNames(fleet, shape),
    targetImageId: imageVersionId(versions.target),
    maxParallelScaleSets: perWave,
    pollIntervalSeconds: pollSeconds,
    failOn: [],
    timeScale,
    lroPollSeconds: scriptLroPoll,
    batchedUpgrades: true,
  }).then((result) => ({ finished: true, outcome: result.outcome }));
  // The script has no deadline of its own: past ours it is left behind and the process exits.
  const timedOut = sleep(deadlineMs).then(() => ({ finished: false, outcome: "unfinished" }));
  const { finished, outcome } = await Promise.race([run, timedOut]);
  return figures(tool, fleet, simulator, {
    finished,
    outcome,
    wallMs: performance.now() - t0,
    pollSeconds,
    pollOperation: "virtualMachineScaleSetVMs.getInstanceView",
  });
}

function printTable(tools: ToolFigures[]): void {
  const operations = [...new Set(tools.flatMap((t) => Object.keys(t.requests.byOperation)))].sort();
  const rows: string[][] = [
    ["", ...tools.map((t) => `${t.tool} (poll ${t.pollSeconds} s)`)],
    ["finished", ...tools.map((t) => `${t.finished} (${t.outcome})`)],
    ["wall s / simulated min", ...tools.map((t) => `${round(t.wallMs / 1000, 1)} / ${t.simulatedMinutes}`)],
    ["upgraded instances", ...tools.map((t) => `${t.upgradedInstances} / ${t.plannedInstances}`)],
    ["ARM requests", ...tools.map((t) => String(t.requests.arm))],
    ["ARM per instance", ...tools.map((t) => t.armPerInstance.toFixed(2))],
    ["status polls per batch (ideal)", ...tools.map((t) => `${t.pollsPerBatch} (${t.idealPollsPerBatch})`)],
    ...operations.map((op) => [`  ${op}`, ...tools.map((t) => String(t.requests.byOperation[op] ?? 0))]),
  ];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  for (const row of rows) console.log(row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  "));
}

try {
  process.stderr.write(
    `arm-realistic: ${shape.waveScaleSets} × ${shape.waveInstances} in ${shape.waves} waves, model write ${timing.modelUpdateSeconds} s, ` +
      `upgrade ${timing.instanceUpgradeSeconds} s, time scale ${timeScale}; canaryd polls every ${canarydPoll} s, ` +
      `the scripts every ${scriptPoll} s and ${canarydPoll} s\n`,
  );
  const tools = await Promise.all([
    runCanaryd("canaryd"),
    runCanaryd("canaryd, analysis 3600 s", 3600),
    runScript("az script", "s", scriptPoll),
    runScript("az script at canaryd's poll", "s", canarydPoll),
  ]);
  const [canaryd, canarydNoWatch, script, scriptSamePoll] = tools as [
    ToolFigures,
    ToolFigures,
    ToolFigures,
    ToolFigures,
  ];
  printTable(tools);
  const ratio = (other: ToolFigures, own = canaryd) => round(other.armPerInstance / own.armPerInstance, 2);
  const result = {
    at: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      node: process.version,
      loadAverage1m: [round(loadAtStart), round(loadavg()[0] ?? Number.NaN)],
    },
    settings: {
      shape: { scaleSets: shape.waveScaleSets, instances: shape.waveInstances, waves: shape.waves },
      simulator: { timeScale, ...timing, lroRetryAfterSeconds: 0 },
      canaryd: { ...engine, pollIntervalSeconds: canarydPoll, timeScale },
      script: {
        pollIntervalSeconds: [scriptPoll, canarydPoll],
        lroPollSeconds: scriptLroPoll,
        batchedUpgrades: true,
      },
      deadlineSeconds: deadlineMs / 1000,
    },
    tools,
    ratios: {
      /** Script ARM requests per instance over canaryd's: above 1, canaryd makes fewer. */
      scriptOverCanaryd: ratio(script),
      scriptAtCanarydPollOverCanaryd: ratio(scriptSamePoll),
      /** The same against canaryd with continuous analysis every 3600 s (gates only when a batch is back). */
      scriptOverCanarydAnalysis3600: ratio(script, canarydNoWatch),
      scriptAtCanarydPollOverCanarydAnalysis3600: ratio(scriptSamePoll, canarydNoWatch),
    },
  };
  const r = result.ratios;
  console.log(
    `ARM requests per upgraded instance, script / canaryd: ${r.scriptOverCanaryd} (script every ${scriptPoll} s), ` +
      `${r.scriptAtCanarydPollOverCanaryd} (script every ${canarydPoll} s); against canaryd with analysis every 3600 s: ` +
      `${r.scriptOverCanarydAnalysis3600}, ${r.scriptAtCanarydPollOverCanarydAnalysis3600}`,
  );
  await writeFile(args.out ?? "", `${JSON.stringify(result, null, 2)}\n`);
  process.stderr.write(`arm-realistic: wrote ${args.out}\n`);
} finally {
  await closeAll();
  // A script left behind at the deadline still has timers: do not wait for them.
  process.exit(process.exitCode ?? 0);
}
