/**
 * The three workloads and the baseline. Each canaryd workload gets a fresh daemon process and an
 * emptied Redis, and is measured on its own slice of the simulator's request log. A workload that
 * passes its deadline is reported as unfinished with what it did by then, and its daemon is
 * stopped, so one slow workload cannot hold up or disturb the next.
 */
import { fork } from "node:child_process";
import { once } from "node:events";
import type { RolloutView, TimelineEntry } from "../src/domain/rollout-view.ts";
import type { RequestLogEntry, RunningSimulator } from "../src/simulator/index.ts";
import type { ApiLoadOptions, ApiLoadResult } from "./api-load.ts";
import { type AzureRequestCounts, countRequests } from "./arm-calls.ts";
import { type BaselineResult, runBaseline } from "./baseline.ts";
import type { StepStats } from "./canaryd-process.ts";
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
  redis: BenchRedis;
  /** A fresh canaryd process on the (emptied) Redis. */
  startDaemon(): Promise<BenchDaemon>;
  pollIntervalSeconds: number;
  maxParallelScaleSets: number;
  apiRate: number;
  /** `GET /v1/rollouts?limit=20` per second during (b), beside the detail reads (0: none). */
  apiListRate?: number;
  /** The engine's Redis key prefix. */
  keyPrefix: string;
  /** Longest wall time one workload may take, in ms. */
  deadlineMs: number;
}

export interface StepFigures {
  /** Events the machine accepted (machine steps). */
  steps: number;
  /** Commits: a commit may apply several queued outcomes of one rollout (src/engine/core/step.ts). */
  commits: number;
  stepsPerSecond: number;
  stepMs: ReturnType<typeof summary>;
  ignored: number;
  /** How long steps waited for their rollout's lock. */
  lockWaitMs: ReturnType<typeof summary>;
  lockBusyTries: number;
  /** Redis commands of the whole workload (BullMQ's included; in (b) the API's reads too) per step. */
  redisCommandsPerStep: number;
}

export interface DaemonFigures {
  cpuMs: number;
  peakRssBytes: number;
}

export interface RolloutFigures {
  /** False when the deadline passed first: the figures cover what was done by then. */
  finished: boolean;
  phase: string;
  /** Client-observed: POST to the /wait answer (or the deadline). */
  wallMs: number;
  /** The daemon's own record: createdAt to the last update. */
  orchestrationMs: number;
  upgradedInstances: number;
  plannedInstances: number;
  requests: AzureRequestCounts;
  armPerInstance: number;
  steps: StepFigures;
  redisBytes: number;
  /** The persisted machine snapshot at the end: every step reads and rewrites it whole. */
  snapshotBytes: number;
  /** The header alone: what every step rewrites. */
  headerBytes: number;
  timelineEntries: number;
  daemon: DaemonFigures;
}

const orchestrationMs = (view: RolloutView) => Date.parse(view.updatedAt) - Date.parse(view.createdAt);
const upgraded = (view: RolloutView) => view.scaleSets.reduce((n, s) => n + s.touchedInstanceIds.length, 0);

function stepFigures(stats: StepStats, wallMs: number, redisCommands: number): StepFigures {
  return {
    redisCommandsPerStep: redisCommands / Math.max(1, stats.stepMs.length),
    steps: stats.accepted,
    commits: stats.stepMs.length,
    stepsPerSecond: stats.accepted / (wallMs / 1000),
    stepMs: summary(stats.stepMs),
    ignored: stats.ignored,
    lockWaitMs: summary(stats.lockWaitMs),
    lockBusyTries: stats.lockBusyTries,
  };
}

const daemonFigures = (stats: StepStats): DaemonFigures => ({
  cpuMs: stats.cpuUserMs + stats.cpuSystemMs,
  peakRssBytes: stats.maxRssBytes,
});

/**
 * The snapshot's size in Redis: the header (`state`, written by every step) and, since schema 3,
 * the spec (`spec`, written once) and one field per scale set (`ss:<i>`, written only by the steps
 * that change that scale set).
 */
async function snapshotSize(ctx: BenchContext, id: string) {
  const fields = await ctx.redis.client.hgetall(`${ctx.keyPrefix}:rollout:${id}`);
  const parts = Object.entries(fields).filter(([field]) => field.startsWith("ss:") || field === "spec");
  return {
    snapshotBytes: [fields.state ?? "", ...parts.map(([, json]) => json)].reduce(
      (sum, json) => sum + Buffer.byteLength(json),
      0,
    ),
    headerBytes: Buffer.byteLength(fields.state ?? ""),
    timelineEntries: await ctx.redis.client.llen(`${ctx.keyPrefix}:rollout:${id}:timeline`),
  };
}

/** A fresh daemon on an empty Redis, the request log cleared; runs `fn` and stops the daemon. */
async function withDaemon<T>(
  ctx: BenchContext,
  fn: (daemon: BenchDaemon, redisBefore: number) => Promise<T>,
): Promise<T> {
  await ctx.redis.client.flushall();
  const daemon = await ctx.startDaemon();
  try {
    await daemon.stats();
    ctx.simulator.clearRequestLog();
    await ctx.redis.client.config("RESETSTAT");
    return await fn(daemon, await ctx.redis.usedMemory());
  } finally {
    await daemon.stop();
  }
}

async function waveRollout(
  ctx: BenchContext,
  daemon: BenchDaemon,
  redisBefore: number,
  failOn: string[],
): Promise<{ figures: RolloutFigures; view: RolloutView }> {
  const t0 = performance.now();
  const fleet = failOn.length > 0 ? "c" : "a";
  const started = await daemon.startRollout(waveRolloutSpec(fleet, ctx.shape, failOn));
  const { view, finished } = await daemon.waitTerminal(started.id, t0 + ctx.deadlineMs);
  const wallMs = performance.now() - t0;
  const stats = await daemon.stats();
  const requests = countRequests(ctx.simulator.requestLog());
  const instances = upgraded(view);
  const figures: RolloutFigures = {
    finished,
    phase: view.phase,
    wallMs,
    orchestrationMs: orchestrationMs(view),
    upgradedInstances: instances,
    plannedInstances: ctx.shape.waveScaleSets * ctx.shape.waveInstances,
    requests,
    armPerInstance: requests.arm / Math.max(1, instances),
    steps: stepFigures(stats, wallMs, await ctx.redis.commandsProcessed()),
    redisBytes: (await ctx.redis.usedMemory()) - redisBefore,
    ...(await snapshotSize(ctx, view.id)),
    daemon: daemonFigures(stats),
  };
  return { figures, view };
}

/** (a): one rollout over a wave fleet. */
export function runWaveRollout(ctx: BenchContext): Promise<RolloutFigures> {
  return withDaemon(
    ctx,
    async (daemon, redisBefore) => (await waveRollout(ctx, daemon, redisBefore, [])).figures,
  );
}

export interface BaselineFigures extends BaselineResult {
  requests: AzureRequestCounts;
  armPerInstance: number;
  /** What the script would call with one `update-instances --instance-ids <batch>` per batch instead. */
  armPerInstanceBatchedUpgrades: number;
}

/** The az-script baseline over a wave fleet of the same shape, same plan, same gates. */
export async function runWaveBaseline(ctx: BenchContext): Promise<BaselineFigures> {
  ctx.simulator.clearRequestLog();
  const result = await runBaseline({
    connection: ctx.simulator.connection,
    resourceGroup,
    waves: waveScaleSetNames("s", ctx.shape),
    targetImageId: imageVersionId(versions.target),
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
  finished: boolean;
  rollouts: number;
  phases: Record<string, number>;
  wallMs: number;
  /** createdAt to the terminal update of each rollout that finished. */
  perRolloutMs: ReturnType<typeof summary>;
  upgradedInstances: number;
  requests: AzureRequestCounts;
  armPerInstance: number;
  steps: StepFigures;
  redisBytesPerRollout: number;
  api: ApiLoadResult & { rate: number; listRate?: number };
  daemon: DaemonFigures;
}

/** (b): many one-scale-set rollouts at once, with API load from another process meanwhile. */
export function runConcurrentRollouts(ctx: BenchContext): Promise<ConcurrentFigures> {
  return withDaemon(ctx, async (daemon, redisBefore) => {
    const loadOptions: ApiLoadOptions = {
      url: daemon.url,
      rate: ctx.apiRate,
      connections: 20,
      ...(ctx.apiListRate ? { listRate: ctx.apiListRate } : {}),
    };
    const load = fork(new URL("./api-load.ts", import.meta.url), [JSON.stringify(loadOptions)], {
      stdio: ["ignore", "pipe", "inherit", "ipc"],
    });
    let output = "";
    load.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
    });
    await once(load, "message");

    const t0 = performance.now();
    const started = await Promise.all(
      Array.from({ length: ctx.shape.singleRollouts }, (_, i) => daemon.startRollout(singleRolloutSpec(i))),
    );
    load.send({ type: "start", ids: started.map((view) => view.id) });
    const waits = await Promise.all(started.map((view) => daemon.waitTerminal(view.id, t0 + ctx.deadlineMs)));
    const wallMs = performance.now() - t0;
    load.send({ type: "stop" });
    await once(load, "exit");
    const api = JSON.parse(output.trim()) as ApiLoadResult;

    const stats = await daemon.stats();
    const requests = countRequests(ctx.simulator.requestLog());
    const views = waits.map((w) => w.view);
    const instances = views.reduce((n, view) => n + upgraded(view), 0);
    const phases: Record<string, number> = {};
    for (const view of views) phases[view.phase] = (phases[view.phase] ?? 0) + 1;
    return {
      finished: waits.every((w) => w.finished),
      rollouts: views.length,
      phases,
      wallMs,
      perRolloutMs: summary(waits.filter((w) => w.finished).map((w) => orchestrationMs(w.view))),
      upgradedInstances: instances,
      requests,
      armPerInstance: requests.arm / Math.max(1, instances),
      steps: stepFigures(stats, wallMs, await ctx.redis.commandsProcessed()),
      redisBytesPerRollout: ((await ctx.redis.usedMemory()) - redisBefore) / views.length,
      api: { ...api, rate: ctx.apiRate, ...(ctx.apiListRate ? { listRate: ctx.apiListRate } : {}) },
      daemon: daemonFigures(stats),
    };
  });
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
  /** rollback.started to the last update. */
  rollbackMs: number;
  rollbackRequests: AzureRequestCounts;
  revertedScaleSets: number;
}

/** (c): a wave rollout failing its bootDiagnostics gate in the last wave, rolled back. */
export function runLastWaveRollback(ctx: BenchContext): Promise<RollbackFigures> {
  return withDaemon(ctx, async (daemon, redisBefore) => {
    const failure = lastWaveFailurePattern(ctx.shape);
    const { figures, view } = await waveRollout(ctx, daemon, redisBefore, [failure]);
    const log = ctx.simulator.requestLog();
    const latency = revertLatency(await daemon.timeline(view.id), log);
    return {
      ...figures,
      ...(view.reason ? { reason: view.reason } : {}),
      failure,
      gateToRollbackStepMs: latency.gateToRollbackStepMs,
      gateToRevertRequestMs: latency.gateToRevertRequestMs,
      gateToLastRevertRequestMs: latency.gateToLastRevertRequestMs,
      rollbackMs: Date.parse(view.updatedAt) - latency.rollbackAt,
      rollbackRequests: countRequests(log.filter((entry) => Date.parse(entry.time) >= latency.rollbackAt)),
      revertedScaleSets: latency.revertedScaleSets,
    };
  });
}

export interface RevertLatency {
  /** Wall ms: the failing gate's verdict (its latest measuredAt), and rollback.started. */
  gateAt: number;
  rollbackAt: number;
  gateToRollbackStepMs: number;
  /** Gate verdict to the first revert request (PATCH of a model back to the previous image). */
  gateToRevertRequestMs: number;
  gateToLastRevertRequestMs: number;
  revertedScaleSets: number;
}

/**
 * Failed gate to revert, for one rolled-back rollout: its timeline, and the simulator's request log
 * of its scale sets only (since before it started). A scale set's second model write in the
 * rollout is its revert; its first was the update. NaN where the rollout has no failed gate.
 */
export function revertLatency(timeline: TimelineEntry[], log: readonly RequestLogEntry[]): RevertLatency {
  const failedGate = timeline.find((e) => e.type === "gates.evaluated" && e.data?.verdict === "failed");
  const gateAt = failedGate ? failedGateTime(failedGate) : Number.NaN;
  const rollbackAt = Date.parse(timeline.find((e) => e.type === "rollback.started")?.at ?? "");
  const writes = new Map<string, number>();
  const revertTimes: number[] = [];
  for (const entry of log) {
    if (entry.operation !== "virtualMachineScaleSets.update") continue;
    const n = (writes.get(entry.path) ?? 0) + 1;
    writes.set(entry.path, n);
    if (n === 2) revertTimes.push(Date.parse(entry.time));
  }
  const first = revertTimes.length > 0 ? Math.min(...revertTimes) : Number.NaN;
  const last = revertTimes.length > 0 ? Math.max(...revertTimes) : Number.NaN;
  return {
    gateAt,
    rollbackAt,
    gateToRollbackStepMs: rollbackAt - gateAt,
    gateToRevertRequestMs: first - gateAt,
    gateToLastRevertRequestMs: last - gateAt,
    revertedScaleSets: revertTimes.length,
  };
}

/** When the failing gate reached its verdict: the latest measuredAt among its results. */
function failedGateTime(entry: TimelineEntry | undefined): number {
  const results = (entry?.data?.results ?? []) as { measuredAt?: string }[];
  const times = results.map((r) => Date.parse(r.measuredAt ?? "")).filter((t) => !Number.isNaN(t));
  return times.length > 0 ? Math.max(...times) : Date.parse(entry?.at ?? "");
}
