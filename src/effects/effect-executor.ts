/**
 * How the engine runs one effect: an executor does the Azure I/O for one step and either answers
 * with the outcome, or asks to be called again later. Long operations (a model write, a manual
 * upgrade of many minutes) never hold a worker: the first step starts the operation and records
 * what it started in `progress`; later steps observe the resource until it is done.
 */
import type { Effect, OutcomeEvent } from "../domain/effects.ts";
import type { ImageReference } from "../domain/image.ts";
import type { RolloutSpec } from "../domain/spec.ts";

/** An outcome before the engine stamps it with the effect id and the time. */
export type OutcomeBody = OutcomeEvent extends infer E
  ? E extends OutcomeEvent
    ? Omit<E, "effectId" | "at">
    : never
  : never;

export type EffectStep =
  | { done: true; outcome: OutcomeBody }
  | {
      done: false;
      checkAgainInSeconds: number;
      /** JSON the engine persists and hands back on the next step (e.g. what was started, when). */
      progress: Record<string, unknown>;
    };

export interface EffectContext {
  rolloutId: string;
  spec: RolloutSpec;
  /** The target image once preflight resolved it. */
  targetImage?: ImageReference;
  /** The engine's clock (tests inject one). */
  now: () => Date;
  /** What the previous step of this effect returned as progress; undefined on the first step. */
  progress?: Record<string, unknown>;
  /** Aborted when the daemon shuts down: stop early and let the job be retried. */
  signal?: AbortSignal;
}

export type ExecuteEffect = (effect: Effect, context: EffectContext) => Promise<EffectStep>;
