/**
 * One batch's manual upgrade, observed until done. A step lists the scale set's instances (one
 * paged call) and issues one `updateInstances` for the batch's instances that are neither on the
 * image nor already updating nor issued before, so a restarted or repeated effect observes a
 * half-done upgrade instead of upgrading an instance twice.
 *
 * Model guard (invariant 8): a manual upgrade applies whatever the model holds, so before every
 * `updateInstances` the model is read; unless it holds the image this effect upgrades to (what
 * canaryd wrote), the step answers `model.conflict` and issues nothing.
 */
import type { ComputeAdapter } from "../azure/compute.ts";
import { AzureAdapterError } from "../azure/errors.ts";
import { runsImage } from "../azure/image-reference.ts";
import type { InstanceFacts } from "../domain/fleet.ts";
import type { ImageReference } from "../domain/image.ts";
import { formatImage } from "../domain/image-reference.ts";
import { isPlatformErrorCode } from "../gates/platform-failures.ts";
import type { EffectStep } from "./effect-executor.ts";
import { modelHolds } from "./write-model-image.ts";

export interface UpgradeProgress {
  /** When this effect first looked (ISO): the upgrade timeout counts from here. */
  startedAt: string;
  /** Every updateInstances call this effect made. */
  issued: { instanceIds: string[]; at: string }[];
}

export interface UpgradeRequest {
  scaleSetId: string;
  instanceIds: string[];
  image: ImageReference;
}

export interface UpgradeOptions {
  pollSeconds: number;
  timeoutSeconds: number;
}

type InstanceState = "done" | "updating" | "failed" | "needsUpgrade" | "protected" | "gone";

const inProgress = new Set(["updating", "creating", "migrating"]);

export function classifyInstance(
  facts: InstanceFacts | undefined,
  image: ImageReference,
  issued: boolean,
): InstanceState {
  if (!facts) return "gone";
  const state = facts.provisioningState.toLowerCase();
  if (inProgress.has(state)) return "updating";
  const onImage = runsImage(facts.imageReference, image);
  if (state === "failed" && (onImage || issued)) return "failed";
  // On the image but an older model (someone changed another model property): upgrade it once.
  if (onImage) return facts.latestModelApplied || issued ? "done" : "needsUpgrade";
  if (issued) return "updating";
  // A manual upgrade leaves protected instances alone: they are reported, not waited for.
  if (facts.protectedFromScaleSetActions) return "protected";
  return "needsUpgrade";
}

export async function stepUpgrade(
  compute: Pick<ComputeAdapter, "listInstances" | "startManualUpgrade" | "readModelImage">,
  request: UpgradeRequest,
  options: UpgradeOptions,
  now: Date,
  previous: UpgradeProgress | undefined,
  signal?: AbortSignal,
): Promise<EffectStep> {
  const progress: UpgradeProgress = previous ?? { startedAt: now.toISOString(), issued: [] };
  const issued = new Set(progress.issued.flatMap((call) => call.instanceIds));
  const listed = new Map(
    (await compute.listInstances(request.scaleSetId, signal)).map((facts) => [facts.instanceId, facts]),
  );
  const states = new Map(
    request.instanceIds.map(
      (id) => [id, classifyInstance(listed.get(id), request.image, issued.has(id))] as const,
    ),
  );
  const withState = (wanted: InstanceState) => request.instanceIds.filter((id) => states.get(id) === wanted);
  const batchFacts = request.instanceIds.flatMap((id) => listed.get(id) ?? []);

  const failed = withState("failed");
  if (failed.length > 0) {
    const codes = failed.flatMap((id) => listed.get(id)?.errorCodes ?? []);
    const platformFailure = codes.length > 0 && codes.every(isPlatformErrorCode);
    const described = failed
      .map(
        (id) =>
          `${id} (${listed.get(id)?.errorCodes.join(", ") || "provisioningState Failed, no error code"})`,
      )
      .join("; ");
    return {
      done: true,
      outcome: {
        type: "instances.upgradeFailed",
        scaleSetId: request.scaleSetId,
        platformFailure,
        reason: `manual upgrade to ${formatImage(request.image)} failed on ${failed.length} instance(s) of ${request.scaleSetId}: ${described}${platformFailure ? " (an Azure platform failure, not the image: retry later or in another zone/size)" : ""}`,
      },
    };
  }

  const toIssue = withState("needsUpgrade");
  if (toIssue.length > 0) {
    const model = (await compute.readModelImage(request.scaleSetId, signal)).imageReference ?? {};
    if (!modelHolds(model, request.image))
      return {
        done: true,
        outcome: { type: "model.conflict", scaleSetId: request.scaleSetId, found: model },
      };
    try {
      await compute.startManualUpgrade(request.scaleSetId, toIssue, signal);
      progress.issued = [...progress.issued, { instanceIds: toIssue, at: now.toISOString() }];
    } catch (error) {
      // 409: another operation on the scale set (often this batch's own earlier upgrade) still
      // runs. Azure refuses a second one until it ends, so wait and issue on a later step.
      if (!(error instanceof AzureAdapterError && error.statusCode === 409)) throw error;
    }
  }
  const waiting = [...withState("updating"), ...toIssue];
  if (waiting.length === 0)
    return {
      done: true,
      outcome: { type: "instances.upgraded", scaleSetId: request.scaleSetId, instances: batchFacts },
    };

  const elapsed = (now.getTime() - Date.parse(progress.startedAt)) / 1000;
  if (elapsed > options.timeoutSeconds)
    return {
      done: true,
      outcome: {
        type: "instances.upgradeFailed",
        scaleSetId: request.scaleSetId,
        platformFailure: true,
        reason: `instances ${waiting.join(", ")} of ${request.scaleSetId} did not come back on ${formatImage(request.image)} within ${options.timeoutSeconds} s of the manual upgrade: check the scale set's activity log and instance view`,
      },
    };
  return { done: false, checkAgainInSeconds: options.pollSeconds, progress: { ...progress } };
}
