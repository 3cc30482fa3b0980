/**
 * The rollout, as on-call would read it:
 *
 *   pending -> preflight -> (waitingForReplication) -> running -> completed
 *                 |                 |                   |  ^  \
 *                 v                 v                   v  |   waitingForWindow (a closed change
 *             rejected          rejected             paused     window before a wave; it opens,
 *                                                                or skipWindow -> running)
 *
 *   running / paused / completed --(any rollback request)--> rollingBack -> rolledBack
 *                                                                   |  ^
 *                                                                   v  | rollback (resume the loop)
 *                                                                  failed --release--> (claims handed back)
 *
 * This machine coordinates; each scale set runs its own statechart (scale-set.chart.ts: the
 * rollout runbook, the analysis region, the rollback's convergence loop). Every path to rollback
 * goes through one function, `requestRollback` (rollback-request.ts); the causes:
 * - a gate fails more than `strategy.analysis.failureLimit` times (or stays inconclusive with
 *   onInconclusive fail) and rollback.automatic is on; with it off the rollout pauses instead,
 *   and resume re-evaluates the gates;
 * - a platform failure (instances.upgradeFailed, effect.failed): the reason says it is Azure's;
 * - model.conflict: someone else changed a scale set's model (found at our write, or by the model
 *   guard before an instance upgrade). canaryd never writes that scale set again; if instances of
 *   it took our image, its rollback cannot converge and the rollout ends `failed`, naming it;
 * - no approval within strategy.approvalTimeoutSeconds;
 * - a person's `abort` or `rollback` (rollback also after `completed`, and from `failed`, where it
 *   resumes the convergence loop). Before any model write there is nothing to revert, so the
 *   rollout goes straight to `rolledBack`.
 * `failed` keeps the claim on every scale set whose rollback did not converge until `release`.
 * `waitingForWindow` (window-gate.ts): before each wave's first scale set, the change windows of
 * configuration are checked; while closed nothing of the wave starts, until the window opens or
 * on-call skips it. A rollback never waits for a window.
 * `pause` during preflight or replication holds the rollout from the start: it pauses as soon as
 * it would run (nothing starts). `pause`: nothing new starts from any path (model writes, upgrades, the read before a batch)
 * until `resume`; effects in flight still report, and the analysis keeps reading.
 *
 * The machine is a pure decider: it never performs I/O and keeps no timers; each step appends
 * effects to the outbox in context, and the engine feeds their outcomes back as events. Outcomes
 * for effects that are not pending are stale: no transition takes them.
 */
import { and, assign, not, setup } from "xstate";
import {
  type Effect,
  type OutcomeEvent,
  outcomeTypes,
  type RolloutEvent,
  type UserEvent,
  userActions,
} from "../src/domain/effects.ts";
import { sameScaleSet } from "../src/domain/scale-set-id.ts";
import type { RolloutSpec } from "../src/domain/spec.ts";
import { newAnalysis } from "./analysis.ts";
import { emitEffect, note, outcomeActor, type RolloutContext, type RolloutSettings } from "./context.ts";
import { pollReplication, recordPreflight, replicationTimedOut } from "./preflight.ts";
import { requestRollback } from "./rollback-request.ts";
import { beginRollback, rollbackFinished, unconverged } from "./rollback-runbook.ts";
import { applyScaleSetOutcome } from "./scale-set.chart.ts";
import {
  approvalTimedOut,
  approveWave,
  awaitingApproval,
  resumeScaleSets,
  startNextScaleSets,
} from "./scale-set-runbook.ts";
import {
  onWindowChecked,
  onWindowCheckFailed,
  onWindowTimer,
  resumeWindow,
  skipWindow,
  waitingForWindow,
} from "./window-gate.ts";

/** Internal: sent once by `startRollout` to leave `pending`. */
export type StartEvent = { type: "rollout.start" };
export type MachineEvent = RolloutEvent | StartEvent;

export interface RolloutInput {
  rolloutId: string;
  name: string;
  createdBy: string;
  spec: RolloutSpec;
  settings: RolloutSettings;
}

export function isOutcome(event: MachineEvent): event is OutcomeEvent {
  return (outcomeTypes as readonly string[]).includes(event.type);
}

export function isUserEvent(event: MachineEvent): event is UserEvent {
  return (userActions as readonly string[]).includes(event.type);
}

/**
 * Actions mutate the step's draft in place. The draft is one deep copy per step, made by `decide`
 * (decide.ts, `draftContext`) before the transition, so a snapshot handed to `decide` is never
 * changed after the fact, and no action copies the whole context again (it grows with the fleet).
 * Whoever runs this machine outside decide.ts must hand it a context it owns.
 */
function withDraft(context: RolloutContext, fn: (draft: RolloutContext) => void): RolloutContext {
  fn(context);
  return context;
}

/** Takes the answered effect out of `pending` and hands it to the step that waits for it. */
function takeEffect(ctx: RolloutContext, event: MachineEvent): Effect | undefined {
  if (!isOutcome(event)) return undefined;
  const effect = ctx.pending[event.effectId];
  delete ctx.pending[event.effectId];
  return effect;
}

function applyOutcome(ctx: RolloutContext, event: MachineEvent): void {
  const effect = takeEffect(ctx, event);
  if (!effect || !isOutcome(event)) return;
  if (effect.kind === "startTimer" && effect.timer === "approvalTimeout") {
    approvalTimedOut(ctx, effect);
    return;
  }
  if (effect.kind === "checkWindow") {
    if (event.type === "window.checked") onWindowChecked(ctx, event, startNextScaleSets);
    else if (event.type === "effect.failed") onWindowCheckFailed(ctx, event.reason, event.at);
    return;
  }
  if (effect.kind === "startTimer" && effect.timer === "window") {
    onWindowTimer(ctx);
    return;
  }
  const scaleSetId = "scaleSetId" in effect ? effect.scaleSetId : undefined;
  const ss = ctx.scaleSets.find((s) => s.id === scaleSetId);
  if (ss) applyScaleSetOutcome(ctx, ss, effect, event);
}

function eventTime(event: MachineEvent): string {
  return "at" in event ? event.at : "";
}

function userActor(event: MachineEvent): string {
  return isUserEvent(event) ? event.actor.id : outcomeActor;
}

function userReason(event: MachineEvent): string | undefined {
  return isUserEvent(event) ? event.reason : undefined;
}

export const rolloutMachine = setup({
  types: {
    context: {} as RolloutContext,
    events: {} as MachineEvent,
    input: {} as RolloutInput,
  },
  guards: {
    isPending: ({ context, event }) => isOutcome(event) && event.effectId in context.pending,
    preflightMissedScaleSets: ({ context, event }) =>
      event.type === "preflight.passed" &&
      context.scaleSets.some((s) => !event.scaleSets.some((f) => sameScaleSet(f.id, s.id))),
    stillReplicating: ({ event }) => event.type === "preflight.passed" && event.replication === "replicating",
    replicationCompleted: ({ event }) => event.type === "replication.checked" && event.status === "completed",
    replicationFailed: ({ event }) => event.type === "replication.checked" && event.status === "failed",
    replicationTimedOut: ({ context }) => replicationTimedOut(context),
    awaitingApproval: ({ context }) => awaitingApproval(context),
    rollbackRequested: ({ context }) => context.rollbackRequest !== undefined,
    holdRequested: ({ context }) => context.holdRequest !== undefined,
    allDone: ({ context }) => context.allDone,
    rollbackFinished: ({ context }) => rollbackFinished(context),
    rollbackIncomplete: ({ context }) => unconverged(context).length > 0,
    notReleased: ({ context }) => context.released === undefined,
    waitingForWindow: ({ context }) => waitingForWindow(context),
  },
  actions: {
    requestPreflight: assign(({ context }) =>
      withDraft(context, (d) => {
        note(
          d,
          "rollout.started",
          `Rollout ${d.name} started by ${d.createdBy}`,
          {
            spec: d.spec,
            owner: d.spec.owner,
            changeRecord: d.spec.changeRecord,
          },
          d.createdBy,
        );
        emitEffect(d, { kind: "preflight" });
      }),
    ),
    recordPreflight: assign(({ context, event }) =>
      withDraft(context, (d) => {
        takeEffect(d, event);
        if (event.type === "preflight.passed") recordPreflight(d, event);
      }),
    ),
    refusePreflight: assign(({ context, event }) =>
      withDraft(context, (d) => {
        takeEffect(d, event);
        if (event.type === "preflight.refused") {
          d.findings.push(...event.findings);
          d.reason = `preflight refused: ${event.findings.map((f) => f.message).join("; ")}`;
          note(d, "preflight.refused", d.reason, { findings: event.findings });
        } else if (event.type === "effect.failed") {
          d.reason = `preflight could not complete: ${event.reason}`;
          note(d, "preflight.failed", d.reason);
        }
      }),
    ),
    pollReplication: assign(({ context }) => withDraft(context, (d) => pollReplication(d))),
    checkReplication: assign(({ context, event }) =>
      withDraft(context, (d) => {
        takeEffect(d, event);
        d.replicationPolls += 1;
        note(d, "replication.polling", `Checking image replication again (check ${d.replicationPolls})`);
        emitEffect(d, { kind: "checkReplication" });
      }),
    ),
    noteReplication: assign(({ context, event }) =>
      withDraft(context, (d) => {
        takeEffect(d, event);
        if (event.type !== "replication.checked") return;
        note(d, "replication.checked", `Image replication ${event.status}`, { findings: event.findings });
      }),
    ),
    refuseReplication: assign(({ context, event }) =>
      withDraft(context, (d) => {
        takeEffect(d, event);
        if (event.type === "replication.checked") {
          d.findings.push(...event.findings);
          const regions = event.findings.map((f) => f.region).filter(Boolean);
          d.reason =
            event.status === "failed"
              ? `image replication failed${regions.length > 0 ? ` in ${regions.join(", ")}` : ""}: ${event.findings
                  .map((f) => f.message)
                  .join("; ")}`
              : `image still replicating after ${d.settings.replicationTimeoutSeconds}s${
                  regions.length > 0 ? ` (${regions.join(", ")})` : ""
                }`;
        } else if (event.type === "effect.failed") {
          d.reason = `replication check could not complete: ${event.reason}`;
        }
        note(d, "replication.refused", d.reason ?? "replication refused");
      }),
    ),
    startScaleSets: assign(({ context }) => withDraft(context, (d) => startNextScaleSets(d))),
    applyOutcome: assign(({ context, event }) => withDraft(context, (d) => applyOutcome(d, event))),
    pause: assign(({ context, event }) =>
      withDraft(context, (d) => {
        const reason = userReason(event);
        d.reason = `paused by ${userActor(event)}${reason ? `: ${reason}` : ""}`;
        note(
          d,
          "rollout.paused",
          `${d.reason}; in-flight steps complete, nothing new starts`,
          {},
          userActor(event),
        );
      }),
    ),
    // Before any scale set moves (preflight, replication): held from the start, paused once running.
    requestPause: assign(({ context, event }) =>
      withDraft(context, (d) => {
        const reason = userReason(event);
        d.hold = true;
        d.holdRequest = `paused by ${userActor(event)}${reason ? `: ${reason}` : ""}`;
        note(
          d,
          "rollout.pauseRequested",
          `${d.holdRequest}; no scale set starts, the rollout pauses once its preflight passes`,
          {},
          userActor(event),
        );
      }),
    ),
    enterHold: assign(({ context }) =>
      withDraft(context, (d) => {
        d.hold = true;
        if (d.holdRequest) {
          d.reason = d.holdRequest;
          note(d, "rollout.paused", d.reason);
          d.holdRequest = undefined;
        }
      }),
    ),
    resume: assign(({ context, event }) =>
      withDraft(context, (d) => {
        d.hold = false;
        d.reason = undefined;
        const reason = userReason(event);
        note(
          d,
          "rollout.resumed",
          `resumed by ${userActor(event)}${reason ? `: ${reason}` : ""}`,
          {},
          userActor(event),
        );
        resumeScaleSets(d);
        resumeWindow(d, startNextScaleSets);
      }),
    ),
    skipWindow: assign(({ context, event }) =>
      withDraft(context, (d) => skipWindow(d, userActor(event), userReason(event), startNextScaleSets)),
    ),
    approve: assign(({ context, event }) =>
      withDraft(context, (d) => approveWave(d, userActor(event), userReason(event))),
    ),
    requestRollbackByUser: assign(({ context, event }) =>
      withDraft(context, (d) => {
        const reason = userReason(event);
        const verb = event.type === "abort" ? "aborted" : "rollback requested";
        requestRollback(
          d,
          event.type === "abort" ? "abort" : "rollback",
          `${verb} by ${userActor(event)}${reason ? `: ${reason}` : ""}`,
          userActor(event),
        );
      }),
    ),
    beginRollback: assign(({ context, event }) =>
      withDraft(context, (d) => beginRollback(d, eventTime(event))),
    ),
    release: assign(({ context, event }) =>
      withDraft(context, (d) => {
        const actor = userActor(event);
        const reason = userReason(event) ?? "";
        const held = unconverged(d).map((s) => s.id);
        d.released = { actor, reason, at: eventTime(event) };
        note(
          d,
          "rollout.released",
          `${actor} released ${held.length} scale set(s) as they are: ${reason}`,
          { scaleSetIds: held, reason },
          actor,
        );
      }),
    ),
    settle: assign(({ context }) =>
      withDraft(context, (d) => {
        d.pending = {};
        d.hold = false;
      }),
    ),
    noteCompleted: assign(({ context }) =>
      withDraft(context, (d) => {
        d.reason = undefined;
        note(d, "rollout.completed", `Rollout ${d.name} completed`);
      }),
    ),
    noteRolledBack: assign(({ context }) =>
      withDraft(context, (d) =>
        note(d, "rollout.rolledBack", `Rolled back: ${d.reason ?? "rollback requested"}`),
      ),
    ),
    noteFailed: assign(({ context }) =>
      withDraft(context, (d) => {
        const stuck = unconverged(d);
        const why = stuck.map((s) => `${s.id}: ${s.failure ?? "unknown"}`).join("; ");
        d.reason = `rollback could not finish (${why}); after: ${d.reason ?? "rollback"}`;
        note(
          d,
          "rollout.failed",
          `Failed: ${d.reason}. The rollout keeps its claim on ${stuck.length} scale set(s): rollback resumes the loop, release hands them back.`,
          { scaleSetIds: stuck.map((s) => s.id) },
        );
      }),
    ),
    noteRejected: assign(({ context }) =>
      withDraft(context, (d) => note(d, "rollout.rejected", `Rejected: ${d.reason ?? "preflight refused"}`)),
    ),
  },
}).createMachine({
  id: "rollout",
  // xstate's pure transition() builds an inert actor that evaluates this without input; that
  // context is never used, so give it an empty one instead of throwing (a thrown error costs a stack).
  context: ({ input }) =>
    input === undefined
      ? ({} as RolloutContext)
      : {
          rolloutId: input.rolloutId,
          name: input.name,
          createdBy: input.createdBy,
          spec: input.spec,
          settings: input.settings,
          revision: 0,
          effectSeq: 0,
          targetImage: {},
          scaleSets: input.spec.waves.flatMap((wave, waveIndex) =>
            wave.scaleSets.map((id) => ({
              id,
              wave: wave.name,
              waveIndex,
              state: "waiting" as const,
              batches: [],
              currentBatch: 0,
              knownInstanceIds: [],
              touchedInstanceIds: [],
              upgradedAt: {},
              protectedInstanceIds: [],
              modelWriteIssued: false,
              gateAttempt: 0,
              analysis: newAnalysis(),
              rollback: { retries: 0, revertedInstanceIds: [], batch: [] },
              rollbackResults: [],
            })),
          ),
          waveIndex: 0,
          approvedWaves: [],
          replicationPolls: 0,
          findings: [],
          pending: {},
          hold: false,
          allDone: false,
          outbox: [],
          log: [],
        },
  initial: "pending",
  states: {
    pending: {
      on: { "rollout.start": { target: "preflight" } },
    },
    preflight: {
      entry: "requestPreflight",
      on: {
        "preflight.passed": [
          {
            guard: and(["isPending", "preflightMissedScaleSets"]),
            target: "rejected",
            actions: "recordPreflight",
          },
          {
            guard: and(["isPending", "stillReplicating"]),
            target: "waitingForReplication",
            actions: "recordPreflight",
          },
          { guard: "isPending", target: "running", actions: ["recordPreflight", "startScaleSets"] },
        ],
        "preflight.refused": { guard: "isPending", target: "rejected", actions: "refusePreflight" },
        "effect.failed": { guard: "isPending", target: "rejected", actions: "refusePreflight" },
        pause: { guard: not("holdRequested"), actions: "requestPause" },
        abort: { target: "rollingBack", actions: "requestRollbackByUser" },
        rollback: { target: "rollingBack", actions: "requestRollbackByUser" },
      },
    },
    waitingForReplication: {
      entry: "pollReplication",
      on: {
        "timer.fired": { guard: "isPending", actions: "checkReplication" },
        "replication.checked": [
          {
            guard: and(["isPending", "replicationCompleted"]),
            target: "running",
            actions: ["noteReplication", "startScaleSets"],
          },
          {
            guard: and(["isPending", "replicationFailed"]),
            target: "rejected",
            actions: "refuseReplication",
          },
          {
            guard: and(["isPending", "replicationTimedOut"]),
            target: "rejected",
            actions: "refuseReplication",
          },
          { guard: "isPending", actions: ["noteReplication", "pollReplication"] },
        ],
        "effect.failed": { guard: "isPending", target: "rejected", actions: "refuseReplication" },
        pause: { guard: not("holdRequested"), actions: "requestPause" },
        abort: { target: "rollingBack", actions: "requestRollbackByUser" },
        rollback: { target: "rollingBack", actions: "requestRollbackByUser" },
      },
    },
    running: {
      always: [
        { guard: "rollbackRequested", target: "rollingBack" },
        { guard: "allDone", target: "completed" },
        { guard: "holdRequested", target: "paused" },
        { guard: "waitingForWindow", target: "waitingForWindow" },
      ],
      on: {
        ...Object.fromEntries(outcomeTypes.map((t) => [t, { guard: "isPending", actions: "applyOutcome" }])),
        pause: { target: "paused", actions: "pause" },
        approve: { guard: "awaitingApproval", actions: "approve" },
        abort: { target: "rollingBack", actions: "requestRollbackByUser" },
        rollback: { target: "rollingBack", actions: "requestRollbackByUser" },
      },
    },
    waitingForWindow: {
      always: [
        { guard: "rollbackRequested", target: "rollingBack" },
        { guard: not("waitingForWindow"), target: "running" },
      ],
      on: {
        ...Object.fromEntries(outcomeTypes.map((t) => [t, { guard: "isPending", actions: "applyOutcome" }])),
        skipWindow: { target: "running", actions: "skipWindow" },
        pause: { target: "paused", actions: "pause" },
        abort: { target: "rollingBack", actions: "requestRollbackByUser" },
        rollback: { target: "rollingBack", actions: "requestRollbackByUser" },
      },
    },
    paused: {
      entry: "enterHold",
      always: [
        { guard: "rollbackRequested", target: "rollingBack" },
        { guard: "allDone", target: "completed" },
        { guard: "holdRequested", actions: "enterHold" },
      ],
      on: {
        ...Object.fromEntries(outcomeTypes.map((t) => [t, { guard: "isPending", actions: "applyOutcome" }])),
        resume: { target: "running", actions: "resume" },
        abort: { target: "rollingBack", actions: "requestRollbackByUser" },
        rollback: { target: "rollingBack", actions: "requestRollbackByUser" },
      },
    },
    rollingBack: {
      entry: "beginRollback",
      always: [
        { guard: and(["rollbackFinished", "rollbackIncomplete"]), target: "failed" },
        { guard: and(["rollbackFinished", not("rollbackIncomplete")]), target: "rolledBack" },
      ],
      on: Object.fromEntries(outcomeTypes.map((t) => [t, { guard: "isPending", actions: "applyOutcome" }])),
    },
    completed: {
      entry: ["settle", "noteCompleted"],
      on: { rollback: { target: "rollingBack", actions: "requestRollbackByUser" } },
    },
    rolledBack: { type: "final", entry: ["settle", "noteRolledBack"] },
    rejected: { type: "final", entry: ["settle", "noteRejected"] },
    failed: {
      entry: ["settle", "noteFailed"],
      on: {
        rollback: { guard: "notReleased", target: "rollingBack", actions: "requestRollbackByUser" },
        release: { guard: "notReleased", actions: "release" },
      },
    },
  },
});

export type RolloutStateName =
  | "pending"
  | "preflight"
  | "waitingForReplication"
  | "waitingForWindow"
  | "running"
  | "paused"
  | "rollingBack"
  | "completed"
  | "rolledBack"
  | "rejected"
  | "failed";
