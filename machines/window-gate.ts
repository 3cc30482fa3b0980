/**
 * The change-window gate before each wave: nothing of a wave starts until configuration's windows
 * and freezes (src/windows/) let it, or on-call skips the window (recorded with actor and reason).
 *
 *   wave about to start -> checkWindow -> window.checked open   -> the wave starts
 *                                      -> window.checked closed -> rollout `waitingForWindow`,
 *                                         a `window` timer for nextOpenAt -> checkWindow again
 *
 * The decider keeps no clock: the executor evaluates the windows with the engine's clock and
 * answers `window.checked`; the re-check is an ordinary timer, so a crash loses nothing (both
 * are outbox effects). Only the start of a wave asks (never the middle of a batch: scale sets
 * already moving are not stopped by a window), and a rollback never asks. While paused no check
 * runs; `resume` checks again before the wave starts, so a pause never carries an old "open"
 * into a window that closed meanwhile. Without settings.changeWindows nothing here runs.
 */
import type { Effect, OutcomeEvent } from "../src/domain/effects.ts";
import { cancelPending, emitEffect, note, type RolloutContext } from "./context.ts";

/** Re-check at least this often while closed (a window with no known next opening included). */
export const maxWindowRecheckSeconds = 3600;
/** Re-check after a failed evaluation. */
const failedCheckRetrySeconds = 60;

const isWindowEffect = (e: Effect) =>
  e.kind === "checkWindow" || (e.kind === "startTimer" && e.timer === "window");

function windowEffectPending(ctx: RolloutContext): boolean {
  return Object.values(ctx.pending).some(isWindowEffect);
}

function waveName(ctx: RolloutContext): string {
  return ctx.spec.waves[ctx.waveIndex]?.name ?? String(ctx.waveIndex);
}

function requestCheck(ctx: RolloutContext): void {
  // What closed this wave before (if anything) stays, so an open answer can say it opened.
  const before = ctx.window?.waveIndex === ctx.waveIndex ? ctx.window : undefined;
  ctx.window = { ...before, waveIndex: ctx.waveIndex, status: "checking" };
  emitEffect(ctx, {
    kind: "checkWindow",
    wave: waveName(ctx),
    waveIndex: ctx.waveIndex,
    scaleSetIds: ctx.scaleSets.filter((s) => s.waveIndex === ctx.waveIndex).map((s) => s.id),
  });
}

/**
 * Called where a wave's first scale set would start: true when it may start now. Otherwise it
 * makes sure an answer is on its way (a check, or the timer of a closed window) and returns false.
 */
export function windowLetsWaveStart(ctx: RolloutContext): boolean {
  if (!ctx.settings.changeWindows) return true;
  const w = ctx.window?.waveIndex === ctx.waveIndex ? ctx.window : undefined;
  if (w?.status === "open" || w?.status === "skipped") return true;
  if (ctx.hold || windowEffectPending(ctx)) return false;
  requestCheck(ctx);
  return false;
}

/** The rollout waits for a closed window of the wave about to start (a re-check of it included). */
export function waitingForWindow(ctx: RolloutContext): boolean {
  const w = ctx.window;
  if (w?.waveIndex !== ctx.waveIndex) return false;
  return w.status === "closed" || (w.status === "checking" && w.closedBy !== undefined);
}

/** The answer of a checkWindow. `startWave` starts the wave (startNextScaleSets). */
export function onWindowChecked(
  ctx: RolloutContext,
  event: Extract<OutcomeEvent, { type: "window.checked" }>,
  startWave: (ctx: RolloutContext) => void,
): void {
  const wave = waveName(ctx);
  if (event.open) {
    const wasClosed = ctx.window?.status === "closed" || ctx.window?.closedBy !== undefined;
    ctx.window = { waveIndex: ctx.waveIndex, status: "open", checkedAt: event.at };
    if (ctx.hold) {
      // Paused meanwhile: resume checks again rather than trust this answer later.
      ctx.window = { waveIndex: ctx.waveIndex, status: "closed", checkedAt: event.at };
      note(ctx, "window.open", `Change window open for wave ${wave}; paused, so resume checks again`, {
        wave,
      });
      return;
    }
    if (wasClosed) note(ctx, "window.open", `Change window open for wave ${wave}`, { wave });
    startWave(ctx);
    return;
  }
  const until = event.nextOpenAt ? ` until ${event.nextOpenAt}` : "";
  // A re-check with the same answer (the hourly one during a long freeze) adds no timeline line.
  const previous = ctx.window?.waveIndex === ctx.waveIndex ? ctx.window : undefined;
  const unchanged =
    previous?.closedBy !== undefined &&
    JSON.stringify(previous.closedBy) === JSON.stringify(event.closedBy) &&
    previous.nextOpenAt === event.nextOpenAt;
  ctx.window = {
    waveIndex: ctx.waveIndex,
    status: "closed",
    closedBy: event.closedBy,
    checkedAt: event.at,
    ...(event.nextOpenAt ? { nextOpenAt: event.nextOpenAt } : {}),
  };
  const why = event.closedBy
    .map((c) =>
      c.kind === "freeze"
        ? `freeze "${c.name}"${c.ticket ? ` (${c.ticket})` : ""}`
        : c.kind === "deny"
          ? `deny window ${c.name}`
          : `outside allow window(s) ${c.name}`,
    )
    .join("; ");
  if (!unchanged)
    note(ctx, "window.closed", `Wave ${wave} waits: ${why}${until}`, {
      wave,
      closedBy: event.closedBy,
      ...(event.nextOpenAt ? { nextOpenAt: event.nextOpenAt } : {}),
    });
  if (ctx.hold) return;
  const untilOpen = event.nextOpenAt
    ? (Date.parse(event.nextOpenAt) - Date.parse(event.at)) / 1000
    : Number.NaN;
  const delaySeconds = Number.isFinite(untilOpen)
    ? Math.min(maxWindowRecheckSeconds, Math.max(1, untilOpen))
    : maxWindowRecheckSeconds;
  emitEffect(ctx, { kind: "startTimer", timer: "window", delaySeconds });
}

/** The re-check timer fired: ask again (not while paused: resume asks). */
export function onWindowTimer(ctx: RolloutContext): void {
  if (ctx.hold) return;
  requestCheck(ctx);
}

/** The evaluation failed: the wave stays closed and the check is tried again shortly. */
export function onWindowCheckFailed(ctx: RolloutContext, reason: string, at: string): void {
  const wave = waveName(ctx);
  ctx.window = { waveIndex: ctx.waveIndex, status: "closed", closedBy: [], checkedAt: at };
  note(ctx, "window.checkFailed", `Wave ${wave} waits: the change window could not be checked: ${reason}`, {
    wave,
    reason,
  });
  if (!ctx.hold)
    emitEffect(ctx, { kind: "startTimer", timer: "window", delaySeconds: failedCheckRetrySeconds });
}

/** On-call starts the wave despite the closed window; the timeline names who and why. */
export function skipWindow(
  ctx: RolloutContext,
  actor: string,
  reason: string | undefined,
  startWave: (ctx: RolloutContext) => void,
): void {
  const wave = waveName(ctx);
  cancelPending(ctx, isWindowEffect);
  const closedBy = ctx.window?.closedBy ?? [];
  ctx.window = { waveIndex: ctx.waveIndex, status: "skipped", skippedBy: { actor, reason: reason ?? "" } };
  note(
    ctx,
    "window.skipped",
    `${actor} skipped the closed change window for wave ${wave}${reason ? `: ${reason}` : ""}`,
    { wave, reason: reason ?? "", closedBy },
    actor,
  );
  startWave(ctx);
}

/** After `resume`: a wave that waited for its window (or had not asked yet) asks now. */
export function resumeWindow(ctx: RolloutContext, startWave: (ctx: RolloutContext) => void): void {
  if (!ctx.settings.changeWindows || ctx.allDone) return;
  const wave = ctx.scaleSets.filter((s) => s.waveIndex === ctx.waveIndex);
  if (wave.length === 0 || !wave.every((s) => s.state === "waiting")) return;
  if (windowEffectPending(ctx)) return;
  startWave(ctx);
}
