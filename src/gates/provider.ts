/**
 * What a gate kind is: one folder `src/gates/<kind>/` exporting one GateProvider, listed once in
 * ./registry.ts. The spec schema's discriminated union and the evaluator both read that list, so a
 * kind is added by its folder and one registry line. A provider names its docs section in
 * docs/gates.md and the simulator operations its reads go through; a unit test
 * (test/unit/gates/registry.test.ts) fails when either is missing.
 *
 * Reads shared by several gates are declared, not made by each: every gate gets the one instance
 * listing; a provider with `metrics` joins the evaluation's one Azure Monitor call per region and
 * namespace (./metric-windows.ts). Everything else a provider fetches itself in `judge`.
 * Providers only read: a crash mid-evaluation loses nothing; the engine runs the effect again.
 */
import type { z } from "zod";
import type { AzureAdapters } from "../azure/adapters.ts";
import type { MetricAggregation } from "../azure/metrics.ts";
import { type Config, configSchema } from "../config/schema.ts";
import type { GateJudgement, PreflightFinding } from "../domain/effects.ts";
import type { InstanceFacts } from "../domain/fleet.ts";
import type { GateSpec } from "../domain/spec.ts";
import type { EvaluationWindows, MetricReads } from "./metric-windows.ts";

/** Operator settings of the gate kinds: configuration key `gates` (src/config/schema.ts). */
export type GateSettings = Config["gates"];

/** Without configuration: the schema's defaults (no webhook host allowed, no secret, no extra CA). */
export const defaultGateSettings: GateSettings = configSchema.shape.gates.parse(undefined);

/** The evaluateGates effect's facts, as every provider sees them. */
export interface GateEvaluationInput {
  /** `logs` is optional: without it a logQuery gate is inconclusive (no Log Analytics client). */
  azure: Pick<AzureAdapters, "compute" | "metrics" | "bootDiagnostics"> &
    Partial<Pick<AzureAdapters, "logs">>;
  scaleSetId: string;
  /** Short region name of the scale set (metrics are queried regionally). */
  location: string;
  instanceIds: string[];
  gates: GateSpec[];
  maxUnhealthyPercent: number;
  /** When the batch finished upgrading: metric windows start no earlier. */
  since: string;
  now: () => Date;
  signal?: AbortSignal;
  /** Boot logs read at the same time (default 8). */
  bootLogConcurrency?: number;
  /** The continuous-analysis fields of the evaluateGates effect (src/domain/effects.ts). */
  baselineInstanceIds?: string[];
  upgradedAt?: Record<string, string>;
  final?: boolean;
  requiredCoverageSeconds?: number;
  /** Told how many metrics:getBatch calls this evaluation made (for /metrics). */
  onMetricsCalls?: (calls: number) => void;
  /** The rollout the evaluation is for (a webhook gate sends it along). */
  rolloutId?: string;
  /** The evaluateGates effect's id (a webhook gate sends it as the request's idempotency key). */
  effectId?: string;
  /** Operator settings of the gate kinds; absent: the defaults (no webhook host allowed). */
  settings?: GateSettings;
}

/** One gate's view of the evaluation: its input plus the reads made once for all gates. */
export interface GateRun extends GateEvaluationInput {
  /** The scale set's instances, listed once per evaluation. */
  instances: InstanceFacts[];
  /** The shared metrics read, when any gate of the evaluation declared `metrics`. */
  metrics?: MetricReads;
}

/** A provider's share of the evaluation's one metrics call. */
export interface MetricsNeed<Spec> {
  /** The metric, aggregation and namespace this gate reads. */
  series(spec: Spec): { namespace: string; metric: string; aggregation: MetricAggregation };
  /** The earliest minute (epoch ms) this gate reads, given the evaluation's windows. */
  earliestRead(spec: Spec, windows: EvaluationWindows): number;
}

export interface GateProvider<Schema extends z.core.$ZodTypeDiscriminable = z.core.$ZodTypeDiscriminable> {
  /** The spec's `kind`, equal to the schema's literal. */
  kind: z.output<Schema> extends { kind: infer Kind } ? Kind : never;
  /** The spec's zod schema: a strict object with `kind` as its literal discriminator. */
  schema: Schema;
  /** The heading anchor of the kind's section in docs/gates.md. */
  docs: string;
  /**
   * The simulator operations (src/simulator route `operation` names) the kind's reads go
   * through, so a demo and the integration tests can run it without Azure or a team's service.
   */
  simulator: readonly string[];
  /** Joins the evaluation's one metrics call (metric and compare gates). */
  metrics?: MetricsNeed<z.output<Schema>>;
  /**
   * Problems found before anything changes (the rollout's preflight refuses on any), e.g. a
   * webhook host the configuration does not allow. Pure; `path` is the spec path of the gate.
   */
  preflight?(spec: z.output<Schema>, settings: GateSettings, path: string): PreflightFinding[];
  /** Reads what else the gate needs and judges: evidence, never a bare boolean. */
  judge(spec: z.output<Schema>, run: GateRun): GateJudgement | Promise<GateJudgement>;
}
