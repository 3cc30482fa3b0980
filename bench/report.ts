/** The benchmark's result (bench/results/latest.json) and its printed table, with the targets. */
import type { Config } from "../src/config/schema.ts";
import type { FleetShape } from "./fleet.ts";
import { round } from "./stats.ts";
import type { BaselineFigures, ConcurrentFigures, RollbackFigures, RolloutFigures } from "./workloads.ts";

export interface BenchResult {
  at: string;
  mode: "quick" | "full";
  machine: {
    cpus: number;
    cpuModel: string;
    memoryGiB: number;
    node: string;
    platform: string;
    /** 1-minute load average at start and end of the run. */
    loadAverage1m: [number, number];
  };
  settings: {
    shape: FleetShape;
    simulator: Record<string, number>;
    engine: Partial<Config["engine"]>;
    spec: Record<string, unknown>;
    apiLoad: Record<string, unknown>;
    deadlineSeconds: number;
  };
  waves: RolloutFigures;
  baseline: BaselineFigures;
  ratios: {
    armCallsPerInstance: number;
    armCallsPerInstanceVsBatchedBaseline: number;
    wallTime: number | null;
  };
  concurrent: ConcurrentFigures;
  rollback: RollbackFigures;
  daemon: { idleRssBytes: number; peakRssBytes: number };
}

type Row = [figure: string, value: string, target: string, verdict: string];

const ms = (n: number) => (Number.isFinite(n) ? `${Math.round(n).toLocaleString("en-US")} ms` : "n/a");
const mib = (bytes: number) => `${round(bytes / 2 ** 20, 1)} MiB`;
const kib = (bytes: number) => `${round(bytes / 1024, 1)} KiB`;
const check = (ok: boolean) => (ok ? "met" : "MISSED");

/** Steps per second of daemon CPU time: what the daemon could do with a core to itself. */
const stepsPerCpuSecond = (steps: number, cpuMs: number) => round(steps / (cpuMs / 1000), 0);

function progress(f: {
  finished: boolean;
  phase: string;
  upgradedInstances: number;
  plannedInstances: number;
}) {
  return f.finished
    ? f.phase
    : `UNFINISHED at the deadline: ${f.phase}, ${f.upgradedInstances}/${f.plannedInstances} instances`;
}

export function targetRows(r: BenchResult): Row[] {
  const { waves, baseline, concurrent, rollback } = r;
  const s = r.settings.shape;
  return [
    [
      `(a) rollout wall time (${s.waveScaleSets}×${s.waveInstances})`,
      `${ms(waves.wallMs)} (${progress(waves)})`,
      "< 10,000 ms",
      check(waves.finished && waves.wallMs < 10_000),
    ],
    ["(a) daemon orchestration (createdAt→end)", ms(waves.orchestrationMs), "", ""],
    [
      "(a) machine steps/s",
      `${round(waves.steps.stepsPerSecond, 0)} (${waves.steps.steps} steps)`,
      "≥ 300",
      check(waves.steps.stepsPerSecond >= 300),
    ],
    [
      "(a) machine steps per daemon CPU second",
      `${stepsPerCpuSecond(waves.steps.steps, waves.daemon.cpuMs)} (${ms(waves.daemon.cpuMs)} CPU)`,
      "",
      "",
    ],
    [
      "(a) step wall time median / p99",
      `${waves.steps.stepMs.median} / ${waves.steps.stepMs.p99} ms`,
      "",
      "",
    ],
    [
      "(a) wait for the rollout lock median / p99",
      `${waves.steps.lockWaitMs.median} / ${waves.steps.lockWaitMs.p99} ms (${waves.steps.lockBusyTries} busy tries)`,
      "",
      "",
    ],
    [
      `(a) ARM requests per instance (${s.waveInstances}/scale set)`,
      `${round(waves.armPerInstance, 2)} (${waves.requests.arm} / ${waves.upgradedInstances})`,
      "≤ 2",
      check(waves.armPerInstance <= 2),
    ],
    [
      `(b) ARM requests per instance (${s.singleInstances}/scale set)`,
      `${round(concurrent.armPerInstance, 2)} (${concurrent.requests.arm} / ${concurrent.upgradedInstances})`,
      "falls as scale sets grow",
      check(waves.armPerInstance <= concurrent.armPerInstance),
    ],
    [
      "baseline (az script) ARM requests per instance",
      `${round(baseline.armPerInstance, 2)} (${baseline.requests.arm}); batched update-instances: ${round(baseline.armPerInstanceBatchedUpgrades, 2)}`,
      "",
      "",
    ],
    [
      "ARM requests per instance canaryd / baseline",
      `${round(r.ratios.armCallsPerInstance, 3)} (${round(1 / r.ratios.armCallsPerInstance, 2)}× fewer); vs batched script ${round(1 / r.ratios.armCallsPerInstanceVsBatchedBaseline, 2)}× fewer`,
      "≥ 3× fewer",
      check(1 / r.ratios.armCallsPerInstance >= 3),
    ],
    [
      "wall time canaryd / baseline",
      r.ratios.wallTime === null
        ? `n/a: canaryd unfinished (${ms(waves.wallMs)} for ${waves.upgradedInstances} instances; baseline ${ms(baseline.wallMs)} for ${baseline.upgradedInstances})`
        : `${round(r.ratios.wallTime, 2)} (${ms(waves.wallMs)} / ${ms(baseline.wallMs)})`,
      "",
      "",
    ],
    [
      "(b) per-rollout wall time median / p99",
      `${ms(concurrent.perRolloutMs.median)} / ${ms(concurrent.perRolloutMs.p99)} (${concurrent.perRolloutMs.n} of ${concurrent.rollouts} finished, in ${ms(concurrent.wallMs)}${concurrent.finished ? "" : ": UNFINISHED at the deadline"})`,
      "",
      "",
    ],
    [
      "(b) machine steps/s",
      `${round(concurrent.steps.stepsPerSecond, 0)} (${concurrent.steps.steps} steps)`,
      "≥ 300",
      check(concurrent.steps.stepsPerSecond >= 300),
    ],
    [
      "(b) machine steps per daemon CPU second",
      `${stepsPerCpuSecond(concurrent.steps.steps, concurrent.daemon.cpuMs)} (${ms(concurrent.daemon.cpuMs)} CPU, API load included)`,
      "",
      "",
    ],
    [
      "(b) step wall time median / p99",
      `${concurrent.steps.stepMs.median} / ${concurrent.steps.stepMs.p99} ms`,
      "",
      "",
    ],
    [
      "(b) wait for the rollout lock median / p99",
      `${concurrent.steps.lockWaitMs.median} / ${concurrent.steps.lockWaitMs.p99} ms (${concurrent.steps.lockBusyTries} busy tries)`,
      "",
      "",
    ],
    [
      `(b) API GET /v1/rollouts/{id} p50 / p99 @ ${concurrent.api.rate}/s`,
      `${concurrent.api.latencyMs.p50} / ${concurrent.api.latencyMs.p99} ms (${concurrent.api.requests} req, ${concurrent.api.non2xx} non-2xx)`,
      "p99 < 50 ms",
      check(concurrent.api.latencyMs.p99 < 50 && concurrent.api.non2xx === 0),
    ],
    ...(concurrent.api.list
      ? ([
          [
            `(b) API GET /v1/rollouts?limit=20 p50 / p99 @ ${concurrent.api.listRate}/s`,
            `${concurrent.api.list.latencyMs.p50} / ${concurrent.api.list.latencyMs.p99} ms (${concurrent.api.list.requests} req, ${concurrent.api.list.non2xx} non-2xx)`,
            "p99 < 50 ms",
            check(concurrent.api.list.latencyMs.p99 < 50 && concurrent.api.list.non2xx === 0),
          ],
        ] as Row[])
      : []),
    [
      "(c) failed gate → rollback step",
      Number.isFinite(rollback.gateToRollbackStepMs)
        ? ms(rollback.gateToRollbackStepMs)
        : "n/a: the last wave was not reached before the deadline",
      "",
      "",
    ],
    [
      "(c) failed gate → first revert request",
      ms(rollback.gateToRevertRequestMs),
      "< 100 ms",
      check(rollback.gateToRevertRequestMs < 100),
    ],
    [
      "(c) failed gate → last revert request",
      `${ms(rollback.gateToLastRevertRequestMs)} (${rollback.revertedScaleSets} scale sets)`,
      "",
      "",
    ],
    ["(c) rollback wall time (started→end)", `${ms(rollback.rollbackMs)} (${progress(rollback)})`, "", ""],
    [
      "daemon peak RSS",
      `${mib(r.daemon.peakRssBytes)} (idle ${mib(r.daemon.idleRssBytes)})`,
      "< 300 MiB",
      check(r.daemon.peakRssBytes < 300 * 2 ** 20),
    ],
    ["Redis memory per rollout (b)", kib(concurrent.redisBytesPerRollout), "", ""],
    ["Redis memory of rollout (a)", kib(waves.redisBytes), "", ""],
    [
      "(a) persisted snapshot at the end",
      `${kib(waves.snapshotBytes)}, of which the header ${kib(waves.headerBytes ?? waves.snapshotBytes)} is rewritten by every step and each scale set's field only when it changes (${waves.timelineEntries} timeline entries)`,
      "",
      "",
    ],
  ];
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((row) => (row[c] ?? "").length))) ?? [];
  return rows
    .map((row) =>
      row
        .map((cell, c) => cell.padEnd(widths[c] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

function operations(title: string, byOperation: Record<string, number>, instances: number): string {
  const rows = Object.entries(byOperation)
    .sort((a, b) => b[1] - a[1])
    .map(([operation, n]) => [`  ${operation}`, String(n), String(round(n / instances, 3))]);
  return `${title}\n${table([["  operation", "requests", "per instance"], ...rows])}`;
}

export function printReport(r: BenchResult): void {
  const m = r.machine;
  const out = [
    `canaryd benchmark (${r.mode}) ${r.at}`,
    `machine: ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, node ${m.node}, ${m.platform}; load average ${m.loadAverage1m?.join(" → ") ?? "not recorded"}${(m.loadAverage1m?.[0] ?? 0) > m.cpus ? " (loaded machine: wall times are noisy)" : ""}`,
    `simulator: ${JSON.stringify(r.settings.simulator)}`,
    `engine: ${JSON.stringify(r.settings.engine)}`,
    `spec: ${JSON.stringify(r.settings.spec)}`,
    "",
    table([["figure", "value", "target", ""], ...targetRows(r)]),
    "",
    operations("(a) canaryd requests by operation", r.waves.requests.byOperation, r.waves.upgradedInstances),
    "",
    operations(
      "baseline requests by operation",
      r.baseline.requests.byOperation,
      r.baseline.upgradedInstances,
    ),
    "",
    operations(
      "(b) canaryd requests by operation",
      r.concurrent.requests.byOperation,
      r.concurrent.upgradedInstances,
    ),
    "",
    operations(
      "(c) canaryd requests during the rollback",
      r.rollback.rollbackRequests.byOperation,
      r.rollback.upgradedInstances,
    ),
  ];
  process.stdout.write(`${out.join("\n")}\n`);
}
