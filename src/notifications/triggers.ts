/**
 * The one table of notification triggers: which timeline entry (a line the machine commits with
 * a step) raises which trigger, at which severity. The config schema, the matcher and the docs
 * read this list; nothing else maps timeline entries to notifications. Pure.
 */
import type { PendingTimelineEntry } from "../engine/store/rollout-store.ts";

export const severities = ["info", "warning", "critical"] as const;
export type Severity = (typeof severities)[number];

export const severityRank: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

interface TriggerRow {
  /** The timeline entry type that raises it. */
  entry: string;
  /** When the entry type alone is not enough (a gate's verdict). */
  when?: (data: Record<string, unknown> | undefined) => boolean;
  severity: Severity;
}

const verdictIs = (verdict: string) => (data: Record<string, unknown> | undefined) =>
  data?.verdict === verdict;

export const triggerTable = {
  rolloutStarted: { entry: "rollout.started", severity: "info" },
  rolloutCompleted: { entry: "rollout.completed", severity: "info" },
  rolloutRolledBack: { entry: "rollout.rolledBack", severity: "warning" },
  rolloutFailed: { entry: "rollout.failed", severity: "critical" },
  rolloutRejected: { entry: "rollout.rejected", severity: "warning" },
  waveStarted: { entry: "wave.started", severity: "info" },
  waveCompleted: { entry: "wave.completed", severity: "info" },
  gateFailed: { entry: "gates.evaluated", when: verdictIs("failed"), severity: "warning" },
  gateInconclusive: { entry: "gates.evaluated", when: verdictIs("inconclusive"), severity: "warning" },
  approvalRequired: { entry: "approval.requested", severity: "warning" },
  paused: { entry: "rollout.paused", severity: "warning" },
  resumed: { entry: "rollout.resumed", severity: "info" },
} as const satisfies Record<string, TriggerRow>;

export type TriggerName = keyof typeof triggerTable;
export const triggerNames = Object.keys(triggerTable) as [TriggerName, ...TriggerName[]];

/** The trigger a timeline entry raises, if any. */
export function triggerOf(entry: Pick<PendingTimelineEntry, "type" | "data">): TriggerName | undefined {
  for (const name of triggerNames) {
    const row: TriggerRow = triggerTable[name];
    if (row.entry === entry.type && (row.when === undefined || row.when(entry.data))) return name;
  }
  return undefined;
}
