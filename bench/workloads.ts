/**
 * The three workloads and the baseline, each measured on its own slice of the simulator's
 * request log (cleared before each) and the daemon's step figures (reset before each).
 */
import { fork } from "node:child_process";
import { once } from "node:events";
import type { RolloutView, TimelineEntry } from "../src/domain/rollout-view.ts";
import type { RunningSimulator } from "../src/simulator/index.ts";
import type { ApiLoadOptions, ApiLoadResult } from "./api-load.ts";
import { type AzureRequestCounts, countRequests } from "./arm-calls.ts";
import { type BaselineResult, runBaseline } from "./baseline.ts";
import type { BenchDaemon } from "./daemon-client.ts";
import {
  type FleetShape,
  imageVersionId,
  lastWaveFailurePattern,
  resourceGroup,
  singleRolloutSpec,
  versions,
  waveRolloutSpec,
  waveScaleSetNames,
} from "./fleet.ts";
import type { BenchRedis } from "./redis-server.ts";
import { summary } from "./stats.ts";

export interface BenchContext {
  shape: FleetShape;
  simulator: RunningSimulator;
  daemon: BenchDaemon;
  redis: BenchRedis;
  pollIntervalSeconds: number;
  maxParallelScaleSets: number;
  apiRate: number;
  /** The engine's Redis key prefix. */
  keyPrefix: string;
}

export interface StepFigures {
  steps: number;
  stepsPerSecond: number;
  stepMs: ReturnType<typeof summary>;
  ignored: number;
  /** How long steps waited for their rollout's lock. */
  lockWaitMs: ReturnType<typeof summary>;
  lockBusyTries: number;
}

export interface RolloutFigures {
  phase: string;
  /** Client-observed: POST to the /wait answer. */
  wallMs: number;
  /** The daemon's own record: createdAt to the terminal updatedAt. */
  orchestrationMs: number;
  upgradedInstances: number;
  requests: AzureRequestCounts;
  armPerInstance: number;
  steps: StepFigures;
  redisBytes: number;
  /** The persisted machine snapshot at the end: every step reads and rewrites it whole. */
  snapshotBytes: number;
  timelineEntries: number;
  cpuMs: number;
}

async function snapshotSize(ctx: BenchContext, id: string): Promise<{ snapshotBytes: number; timelineEntries: number }> {
  return {
    snapshotBytes: await ctx.redis.client.hstrlen(`${ctx.keyPrefix}:rollout:${id}`, "state"),
    timelineEntries: await ctx.redis.client.llen(`${ctx.keyPrefix}:rollout:${id}:timeline`),
  };
}

const orchestrationMs = (view: RolloutView) => Date.parse(view.updatedAt) - Date.parse(view.createdAt);
const upgraded = (view: RolloutView) => view.scaleSets.reduce((n, s) => n + s.touchedInstanceIds.length, 0);

async function stepFigures(ctx: BenchContext, wallMs: number) {
  const stats = await ctx.daemon.stats();
  const steps: StepFigures = {
    steps: stats.stepMs.length,
    stepsPerSecond: stats.stepMs.length / (wallMs / 1000),
    stepMs: summary(stats.stepMs),
    ignored: stats.ignored,
    lockWaitMs: summary(stats.lockWaitMs),
    lockBusyTries: stats.lockBusyTries,
  };
  return { steps, stats };
}

/** Resets the daemon's step figures and the request log, and notes Redis memory. */
async function begin(ctx: BenchContext): Promise<{ redisBefore: number; t0: number }> {
  await ctx.daemon.stats();
  ctx.simulator.clearRequestLog();
  return { redisBefore: await ctx.redis.usedMemory(), t0: performance.now() };
}

/** (a): one rollout over the wave fleet. */
export async function runWaveRollout(ctx: BenchContext): Promise<RolloutFigures> {
  const { redisBefore, t0 } = await begin(ctx);
  const started = await ctx.daemon.startRollout(waveRolloutSpec(ctx.shape, versions.canaryd));
  const view = await ctx.daemon.waitTerminal(started.id);
  const wallMs = performance.now() - t0;
  const { steps, stats } = await stepFigures(ctx, wallMs);
  const requests = countRequests(ctx.simulator.requestLog());
  const instances = upgraded(view);
  return {
    phase: view.phase,
    wallMs,
    orchestrationMs: orchestrationMs(view),
    upgradedInstances: instances,
    requests,
    armPerInstance: requests.arm / instances,
    steps,
    redisBytes: (await ctx.redis.usedMemory()) - redisBefore,
    ...(await snapshotSize(ctx, view.id)),
    cpuMs: stats.cpuUserMs + stats.cpuSystemMs,
  };
}

export interface BaselineFigures extends BaselineResult {
  requests: AzureRequestCounts;
  armPerInstance: number;
  /** What the script would call with one `update-instances --instance-ids <batch>` per batch instead. */
  armPerInstanceBatchedUpgrades: number;
}

/** The az-script baseline over the same wave fleet, same plan, same gates. */
export async function runWaveBaseline(ctx: BenchContext): Promise<BaselineFigures> {
  ctx.simulator.clearRequestLog();
  const result = await runBaseline({
    connection: ctx.simulator.connection,
    resourceGroup,
    waves: waveScaleSetNames(ctx.shape),
    targetImageId: imageVersionId(versions.baseline),
    maxParallelScaleSets: ctx.maxParallelScaleSets,
    pollIntervalSeconds: ctx.pollIntervalSeconds,
    failOn: [],
  });
  const requests = countRequests(ctx.simulator.requestLog());
  const upgradeCalls = requests.byOperation["virtualMachineScaleSets.updateInstances"] ?? 0;
  return {
    ...result,
    requests,
    armPerInstance: requests.arm / result.upgradedInstances,
    armPerInstanceBatchedUpgrades: (requests.arm - upgradeCalls + result.batches) / result.upgradedInstances,
  };
}

export interface ConcurrentFigures {
  rollouts: number;
  phases: Record<string, number>;
  wallMs: number;
  perRolloutMs: ReturnType<typeof summary>;
  upgradedInstances: number;
  requests: AzureRequestCounts;
  armPerInstance: number;
  steps: StepFigures;
  redisBytesPerRollout: number;
  api: ApiLoadResult & { rate: number };
  cpuMs: number;
}

/** (b): many one-scale-set rollouts at once, with API load from another process meanwhile. */
export async function runConcurrentRollouts(ctx: BenchContext): Promise<ConcurrentFigures> {
  const loadOptions: ApiLoadOptions = { url: ctx.daemon.url, rate: ctx.apiRate, connections: 20 };
  const load = fork(new URL("./api-load.ts", import.meta.url), [JSON.stringify(loadOptions)], {
    stdio: ["ignore", "pipe", "inherit", "ipc"],
  });
  let output = "";
  load.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8");
  });
  await once(load, "message");

  const { redisBefore, t0 } = await begin(ctx);
  const started = await Promise.all(
    Array.from({ length: ctx.shape.singleRollouts }, (_, i) => ctx.daemon.startRollout(singleRolloutSpec(i))),
  );
  load.send({ type: "start", ids: started.map((view) => view.id) });
  const views = await Promise.all(started.map((view) => ctx.daemon.waitTerminal(view.id)));
  const wallMs = performance.now() - t0;
  load.send({ type: "stop" });
  await once(load, "exit");
  const api = JSON.parse(output.trim()) as ApiLoadResult;

  const { steps, stats } = await stepFigures(ctx, wallMs);
  const requests = countRequests(ctx.simulator.requestLog());
  const instances = views.reduce((n, view) => n + upgraded(view), 0);
  const phases: Record<string, number> = {};
  for (const view of views) phases[view.phase] = (phases[view.phase] ?? 0) + 1;
  return {
    rollouts: views.length,
    phases,
    wallMs,
    perRolloutMs: summary(views.map(orchestrationMs)),
    upgradedInstances: instances,
    requests,
    armPerInstance: requests.arm / instances,
    steps,
    redisBytesPerRollout: ((await ctx.redis.usedMemory()) - redisBefore) / views.length,
    api: { ...api, rate: ctx.apiRate },
    cpuMs: stats.cpuUserMs + stats.cpuSystemMs,
  };
}

export interface RollbackFigures extends RolloutFigures {
  /** The failOn pattern that fails the last wave. */
  failure: string;
  reason?: string;
  /** Gate verdict (its measuredAt) to the step that began the rollback. */
  gateToRollbackStepMs: number;
  /** Gate verdict to the first revert request (PATCH of a model back to the previous image). */
  gateToRevertRequestMs: number;
  /** Gate verdict to the last scale set's revert request. */
  gateToLastRevertRequestMs: number;
  /** rollback.started to the terminal phase. */
  rollbackMs: number;
  rollbackRequests: AzureRequestCounts;
  revertedScaleSets: number;
}

/** (c): the wave rollout again, failing its bootDiagnostics gate in the last wave. */
export async function runLastWaveRollback(ctx: BenchContext): Promise<RollbackFigures> {
  const { redisBefore, t0 } = await begin(ctx);
  const failure = lastWaveFailurePattern(ctx.shape);
  const started = await ctx.daemon.startRollout(waveRolloutSpec(ctx.shape, versions.rollback, [failure]));
  const view = await ctx.daemon.waitTerminal(started.id);
  const wallMs = performance.now() - t0;
  const { steps, stats } = await stepFigures(ctx, wallMs);
  const log = ctx.simulator.requestLog();
  const timeline = await ctx.daemon.timeline(started.id);

  const failedGate = timeline.find((e) => e.type === "gates.evaluated" && e.data?.verdict === "failed");
  const gateAt = failedGateTime(failedGate);
  const rollbackAt = Date.parse(timeline.find((e) => e.type === "rollback.started")?.at ?? "");
  // A scale set's second model write in this rollout is its revert; its first was the update.
  const writes = new Map<string, number>();
  const revertTimes: number[] = [];
  for (const entry of log) {
    if (entry.operation !== "virtualMachineScaleSets.update") continue;
    const n = (writes.get(entry.path) ?? 0) + 1;
    writes.set(entry.path, n);
    if (n === 2) revertTimes.push(Date.parse(entry.time));
  }
  const requests = countRequests(log);
  const instances = upgraded(view);
  return {
    phase: view.phase,
    ...(view.reason ? { reason: view.reason } : {}),
    failure,
    wallMs,
    orchestrationMs: orchestrationMs(view),
    upgradedInstances: instances,
    requests,
    armPerInstance: requests.arm / instances,
    steps,
    redisBytes: (await ctx.redis.usedMemory()) - redisBefore,
    ...(await snapshotSize(ctx, view.id)),
    cpuMs: stats.cpuUserMs + stats.cpuSystemMs,
    gateToRollbackStepMs: rollbackAt - gateAt,
    gateToRevertRequestMs: Math.min(...revertTimes) - gateAt,
    gateToLastRevertRequestMs: Math.max(...revertTimes) - gateAt,
    rollbackMs: Date.parse(view.updatedAt) - rollbackAt,
    rollbackRequests: countRequests(log.filter((entry) => Date.parse(entry.time) >= rollbackAt)),
    revertedScaleSets: revertTimes.length,
  };
}

/** When the failing gate reached its verdict: the latest measuredAt among its results. */
function failedGateTime(entry: TimelineEntry | undefined): number {
  const results = (entry?.data?.results ?? []) as { measuredAt?: string }[];
  const times = results.map((r) => Date.parse(r.measuredAt ?? "")).filter((t) => !Number.isNaN(t));
  return times.length > 0 ? Math.max(...times) : Date.parse(entry?.at ?? "");
}
