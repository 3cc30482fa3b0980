/** What preflight and the replication wait decide, as pure functions over a draft context. */
import type { OutcomeEvent } from "../src/domain/effects.ts";
import { formatImage } from "../src/domain/image-reference.ts";
import { planBatches } from "../src/domain/plan.ts";
import { sameScaleSet, scaleSetName } from "../src/domain/scale-set-id.ts";
import { emitEffect, note, type RolloutContext } from "./context.ts";

type PreflightPassed = Extract<OutcomeEvent, { type: "preflight.passed" }>;

/**
 * Records each scale set's previous image (invariant 1: only if none is recorded yet) and plans
 * its batches. Returns false, with findings, when the engine's facts miss a scale set of the spec.
 */
export function recordPreflight(ctx: RolloutContext, event: PreflightPassed): boolean {
  ctx.targetImage = event.resolvedImage;
  for (const ss of ctx.scaleSets) {
    const facts = event.scaleSets.find((f) => sameScaleSet(f.id, ss.id));
    if (!facts) {
      ctx.findings.push({
        scaleSetId: ss.id,
        code: "ScaleSetNotRead",
        message: `${scaleSetName(ss.id)} was not read`,
      });
      continue;
    }
    ss.previousImage ??= facts.imageReference;
    ss.location = facts.location;
    ss.capacity = facts.capacity;
    const plan = planBatches({
      instances: facts.instances,
      canary: ctx.spec.strategy.canary,
      batchPercent: ctx.spec.strategy.batchPercent,
      capacity: facts.capacity,
    });
    ss.batches = plan.batches.map((instanceIds, i) => ({
      kind: i === 0 ? "canary" : "promotion",
      instanceIds,
      status: "pending",
      gateResults: [],
    }));
    ss.protectedInstanceIds = plan.protectedInstanceIds;
    ss.knownInstanceIds = facts.instances.map((i) => i.instanceId);
  }
  if (ctx.findings.length > 0) {
    ctx.reason = "preflight could not read every scale set of the spec";
    note(ctx, "preflight.refused", ctx.reason, { findings: ctx.findings });
    return false;
  }
  for (const notice of event.notices ?? []) {
    note(ctx, "preflight.notice", notice.message, { ...notice });
  }
  note(
    ctx,
    "preflight.passed",
    `Preflight passed for ${formatImage(ctx.targetImage)}; previous versions: ${ctx.scaleSets
      .map((s) => `${scaleSetName(s.id)} ${formatImage(s.previousImage ?? {})}`)
      .join(", ")}`,
    {
      targetImage: ctx.targetImage,
      previousImages: Object.fromEntries(ctx.scaleSets.map((s) => [s.id, s.previousImage])),
      batches: Object.fromEntries(ctx.scaleSets.map((s) => [s.id, s.batches.map((b) => b.instanceIds)])),
      protectedInstanceIds: Object.fromEntries(ctx.scaleSets.map((s) => [s.id, s.protectedInstanceIds])),
      replication: event.replication,
      owner: ctx.spec.owner,
      changeRecord: ctx.spec.changeRecord,
    },
  );
  return true;
}

export function pollReplication(ctx: RolloutContext): void {
  emitEffect(ctx, {
    kind: "startTimer",
    timer: "replicationPoll",
    delaySeconds: ctx.settings.replicationPollSeconds,
  });
}

export function replicationTimedOut(ctx: RolloutContext): boolean {
  return ctx.replicationPolls * ctx.settings.replicationPollSeconds >= ctx.settings.replicationTimeoutSeconds;
}
