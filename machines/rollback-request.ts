/**
 * The one way into a rollback. Every path that decides a rollout must be reverted (a gate, a
 * platform failure, a model conflict, an approval timeout, a person's abort or rollback) calls
 * `requestRollback`; the rollout machine sees the request and enters `rollingBack`, whose entry
 * (rollback-runbook.ts `beginRollback`) starts the convergence loop on every scale set it touched.
 *
 * The first request wins: its reason is the rollout's reason; later ones in the same step are
 * recorded in the timeline only.
 */
import { note, type RolloutContext } from "./context.ts";

export type RollbackCause =
  | "gateFailed"
  | "inconclusive"
  | "platformFailure"
  | "modelConflict"
  | "effectFailed"
  | "approvalTimeout"
  | "abort"
  | "rollback";

export function requestRollback(
  ctx: RolloutContext,
  cause: RollbackCause,
  reason: string,
  actor = "canaryd",
): void {
  if (ctx.rollbackRequest) {
    note(ctx, "rollback.alsoRequested", `Also: ${reason}`, { cause, reason }, actor);
    return;
  }
  // The `rollback.started` line of the same step records it (beginRollback).
  ctx.rollbackRequest = { reason, actor, cause };
}
