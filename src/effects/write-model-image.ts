/**
 * Writing a scale set model's imageReference without overwriting anyone else's change. Each step
 * reads the model first (and writes with its ETag as If-Match, so a change between the read and the
 * write is refused by Azure instead of overwritten): already the wanted image → done (idempotent after a crash); still the
 * image being replaced → write (once, then observe); anything else → conflict, never overwritten.
 * setModelImage replaces `previous` with `target`; revertModel does the reverse.
 */
import type { ComputeAdapter } from "../azure/compute.ts";
import { AzureAdapterError } from "../azure/errors.ts";
import type { ImageReference } from "../domain/image.ts";
import {
  formatImage,
  galleryImageDefinitionOf,
  referencesLatest,
  sameImage,
} from "../domain/image-reference.ts";
import type { EffectStep } from "./effect-executor.ts";

export interface ModelWriteProgress {
  /** When this effect first looked (ISO): the time limit counts from here. */
  startedAt: string;
  /** How many times the write was accepted by Azure for this effect. */
  writes: number;
  /** When the last write was accepted (ISO). */
  lastWriteAt?: string;
}

export interface ModelWriteOptions {
  pollSeconds: number;
  /** An accepted write that still does not show in the model after this long is submitted again. */
  rewriteAfterSeconds: number;
  /** Writes submitted before giving up (the engine then fails the effect). */
  maxWrites: number;
  /** How long the scale set may stay busy or unchanged before the effect gives up. */
  timeoutSeconds: number;
}

export interface ModelWrite {
  scaleSetId: string;
  /** The image the model must end on. */
  wanted: ImageReference;
  /** The image the model may hold instead, which this effect replaces. */
  replacing: ImageReference;
  direction: "update" | "revert";
}

const inProgress = new Set(["updating", "creating", "migrating"]);

/**
 * What a write sends: a recorded reference that says `latest` (a marketplace `latest`, a gallery
 * `/versions/latest` or an image definition) is written with the exact version the instances ran,
 * so a rollback restores what ran, not whatever is newest today.
 */
export function pinned(reference: ImageReference): ImageReference {
  if (!referencesLatest(reference) || !reference.exactVersion) return reference;
  if (reference.id)
    return { id: `${galleryImageDefinitionOf(reference.id)}/versions/${reference.exactVersion}` };
  return { ...reference, version: reference.exactVersion };
}

/** The model names `image` (as recorded, or pinned to the exact version it stood for). */
export const modelHolds = (model: ImageReference, image: ImageReference) =>
  sameImage(model, image) || sameImage(model, pinned(image));
const holds = modelHolds;

export async function stepModelWrite(
  compute: Pick<ComputeAdapter, "readModelImage" | "startModelImageUpdate">,
  write: ModelWrite,
  options: ModelWriteOptions,
  now: Date,
  progress: ModelWriteProgress | undefined,
  signal?: AbortSignal,
): Promise<EffectStep> {
  const state: ModelWriteProgress = progress ?? { startedAt: now.toISOString(), writes: 0 };
  const model = await compute.readModelImage(write.scaleSetId, signal);
  const current = model.imageReference ?? {};
  const busy = inProgress.has((model.provisioningState ?? "").toLowerCase());
  // ARM keeps the written image in the model even when the write's operation ended Failed.
  const failed = (model.provisioningState ?? "").toLowerCase() === "failed";
  const wait = (next: ModelWriteProgress): EffectStep => {
    const waited = (now.getTime() - Date.parse(next.startedAt)) / 1000;
    if (waited > options.timeoutSeconds)
      throw new AzureAdapterError(
        "MODEL_WRITE_TIMEOUT",
        `scale set ${write.scaleSetId} did not settle on ${formatImage(write.wanted)} within ${options.timeoutSeconds} s (model holds ${formatImage(current)}, provisioningState ${model.provisioningState ?? "unknown"})`,
      );
    return { done: false, checkAgainInSeconds: options.pollSeconds, progress: { ...next } };
  };

  if (holds(current, write.wanted)) {
    if (busy) return wait(state);
    if (failed) {
      if (state.writes >= options.maxWrites)
        throw new AzureAdapterError(
          "MODEL_WRITE_FAILED",
          `Azure reports the model write of ${formatImage(write.wanted)} to scale set ${write.scaleSetId} as Failed (provisioningState Failed) after ${state.writes} attempts: see the scale set's activity log`,
        );
      return submit();
    }
    return {
      done: true,
      outcome:
        write.direction === "update"
          ? { type: "model.updated", scaleSetId: write.scaleSetId }
          : { type: "model.reverted", scaleSetId: write.scaleSetId },
    };
  }
  if (!holds(current, write.replacing))
    return { done: true, outcome: { type: "model.conflict", scaleSetId: write.scaleSetId, found: current } };

  const sinceWrite = state.lastWriteAt
    ? (now.getTime() - Date.parse(state.lastWriteAt)) / 1000
    : Number.POSITIVE_INFINITY;
  if (busy || sinceWrite < options.rewriteAfterSeconds) return wait(state);
  if (state.writes >= options.maxWrites)
    throw new AzureAdapterError(
      "MODEL_WRITE_NOT_APPLIED",
      `scale set ${write.scaleSetId} still holds ${formatImage(current)} after ${state.writes} accepted writes of ${formatImage(write.wanted)}`,
    );
  return submit();

  async function submit(): Promise<EffectStep> {
    try {
      await compute.startModelImageUpdate(write.scaleSetId, pinned(write.wanted), signal, model.etag);
    } catch (error) {
      // 409: another operation on the scale set still runs (an upgrade finishing): write after it.
      // 412: the scale set changed between our read and our write (If-Match): the next step reads
      // again and finds what happened (someone else's image is a conflict, never overwritten).
      if (error instanceof AzureAdapterError && (error.statusCode === 409 || error.statusCode === 412))
        return wait(state);
      throw error;
    }
    return wait({ ...state, writes: state.writes + 1, lastWriteAt: now.toISOString() });
  }
}
