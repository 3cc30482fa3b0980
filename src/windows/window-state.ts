/**
 * Whether a change may start now: the pure evaluation of change windows and freezes.
 *
 *   windowState(at, windows, freezes, matches) -> { open, closedBy, nextOpenAt }
 *
 * Rules: a window occurrence is active from its cron start (read in its time zone) for
 * `durationSeconds` (start inclusive, end exclusive). Deny overrides allow: an active deny window
 * or freeze closes. With any allow window applying, outside every active allow occurrence is
 * closed. Windows whose `match` does not fit (the wave's scale sets, the spec's labels) are
 * ignored; freezes apply to everything. `nextOpenAt` is the earliest time within a year at which
 * all of it is open again (absent when none is found). No clock, no I/O: time comes in as `at`.
 */
import { Cron } from "croner";
import type { WindowClosure } from "../domain/effects.ts";
import { matchesAnyGlob } from "../effects/allow-latest.ts";
import type { ChangeWindow, Freeze } from "./schema.ts";

export interface WindowTarget {
  scaleSetIds: readonly string[];
  labels: Readonly<Record<string, string>>;
}

/** What closed it, as the timeline and the API show it. */
export type ClosedBy = WindowClosure;

export interface WindowState {
  open: boolean;
  closedBy: ClosedBy[];
  nextOpenAt?: string;
}

/** How far ahead nextOpenAt is searched. */
const horizonMs = 366 * 24 * 3600 * 1000;
const maxSteps = 500;

/** Whether a window applies to the target: every label it names matches, and a scale set matches if any are named. */
export function windowMatches(window: ChangeWindow, target: WindowTarget): boolean {
  const labelsOk = Object.entries(window.match.labels).every(([k, v]) => target.labels[k] === v);
  const scaleSetsOk =
    window.match.scaleSets.length === 0 ||
    target.scaleSetIds.some((id) => matchesAnyGlob(id, window.match.scaleSets));
  return labelsOk && scaleSetsOk;
}

interface Compiled {
  window: ChangeWindow;
  cron: Cron;
}

/** The occurrence active at `at`, if any: the latest start at or before `at` whose duration covers it. */
function activeOccurrence(c: Compiled, at: number): { start: number; end: number } | undefined {
  const [previous] = c.cron.previousRuns(1, new Date(at + 1));
  if (!previous) return undefined;
  const start = previous.getTime();
  const end = start + c.window.durationSeconds * 1000;
  return at >= start && at < end ? { start, end } : undefined;
}

function stateAt(
  at: number,
  compiled: Compiled[],
  freezes: readonly Freeze[],
): { closedBy: ClosedBy[]; nextCandidate?: number } {
  const closedBy: ClosedBy[] = [];
  let blockedUntil = 0;
  for (const f of freezes) {
    const start = Date.parse(f.start);
    const end = Date.parse(f.end);
    if (at >= start && at < end) {
      closedBy.push({
        kind: "freeze",
        name: f.reason,
        ...(f.ticket ? { ticket: f.ticket } : {}),
        until: f.end,
      });
      blockedUntil = Math.max(blockedUntil, end);
    }
  }
  for (const c of compiled.filter((c) => c.window.kind === "deny")) {
    const occurrence = activeOccurrence(c, at);
    if (occurrence) {
      closedBy.push({ kind: "deny", name: c.window.name, until: new Date(occurrence.end).toISOString() });
      blockedUntil = Math.max(blockedUntil, occurrence.end);
    }
  }
  const allows = compiled.filter((c) => c.window.kind === "allow");
  const insideAllow = allows.length === 0 || allows.some((c) => activeOccurrence(c, at) !== undefined);
  if (!insideAllow) {
    closedBy.push({ kind: "outsideAllow", name: allows.map((c) => c.window.name).join(", ") });
  }
  if (closedBy.length === 0) return { closedBy };
  // Deny and freezes must all end first; then, if outside allow, the next allow start.
  if (blockedUntil > 0) return { closedBy, nextCandidate: blockedUntil };
  const starts = allows
    .map((c) => c.cron.nextRun(new Date(at))?.getTime())
    .filter((t): t is number => t !== undefined);
  return starts.length > 0 ? { closedBy, nextCandidate: Math.min(...starts) } : { closedBy };
}

export function windowState(
  at: Date,
  windows: readonly ChangeWindow[],
  freezes: readonly Freeze[],
  target: WindowTarget,
): WindowState {
  const compiled = windows
    .filter((w) => windowMatches(w, target))
    .map((window) => ({ window, cron: new Cron(window.schedule, { timezone: window.timeZone }) }));
  const now = at.getTime();
  const first = stateAt(now, compiled, freezes);
  if (first.closedBy.length === 0) return { open: true, closedBy: [] };
  let candidate = first.nextCandidate;
  for (let step = 0; candidate !== undefined && step < maxSteps && candidate - now <= horizonMs; step += 1) {
    const next = stateAt(candidate, compiled, freezes);
    if (next.closedBy.length === 0) {
      return { open: false, closedBy: first.closedBy, nextOpenAt: new Date(candidate).toISOString() };
    }
    candidate = next.nextCandidate;
  }
  return { open: false, closedBy: first.closedBy };
}

/** One line for a person: "deny window release-freeze until …; freeze (INC-1) …". */
export function describeClosedBy(closedBy: readonly ClosedBy[]): string {
  return closedBy
    .map((c) =>
      c.kind === "freeze"
        ? `freeze "${c.name}"${c.ticket ? ` (${c.ticket})` : ""} until ${c.until}`
        : c.kind === "deny"
          ? `deny window ${c.name} until ${c.until}`
          : `outside allow window(s) ${c.name}`,
    )
    .join("; ");
}
