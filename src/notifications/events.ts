/**
 * From the timeline entries one step commits to the notification outbox entries written in that
 * same commit: one per (event, matching subscription). An event is one timeline entry that raises a
 * trigger (triggers.ts); its id is `<rolloutId>.r<revision>.<index in the step>`, unique because
 * revisions are, and the same on every re-derivation of that step. The delivery id
 * `<eventId>.<subscription>` is the idempotency key sent along. Pure.
 */
import { matchesAnyGlob } from "../effects/allow-latest.ts";
import type { NotificationHook } from "../engine/core/outbox.ts";
import type { NotificationsConfig, Subscription } from "./config.ts";
import { type Severity, severityRank, type TriggerName, triggerOf, triggerTable } from "./triggers.ts";

export const payloadSchemaVersion = 1;

/** A notification outbox entry (Redis hash `<prefix>:notifications:outbox`, field = id). */
export interface NotificationDelivery {
  /** The idempotency key: `<eventId>.<subscription>`, plus `.remind<n>` for a reminder. */
  id: string;
  eventId: string;
  subscription: string;
  service: string;
  trigger: TriggerName;
  severity: Severity;
  /** When the event happened (engine clock). */
  at: string;
  /** Wall-clock time the delivery was created: the retry deadline counts from here. */
  createdAt: string;
  message: string;
  /** A few facts of the entry (wave, scale set, verdict), never the spec. */
  details: Record<string, unknown>;
  rollout: RolloutSummary;
  attempts: number;
  lastError?: string;
  reminder?: number;
}

export interface RolloutSummary {
  id: string;
  name: string;
  phase: string;
  createdBy?: string;
  owner?: string;
  changeRecord?: string;
  labels: Record<string, string>;
  scaleSetIds: string[];
}

type DeriveInput = Parameters<NotificationHook["derive"]>[0];

const detailKeys = ["wave", "scaleSetId", "batch", "verdict", "attempt"] as const;

export function subscriptionMatches(
  sub: Subscription,
  trigger: TriggerName,
  rollout: RolloutSummary,
): boolean {
  if (!sub.triggers.includes(trigger)) return false;
  if (severityRank[triggerTable[trigger].severity] < severityRank[sub.minSeverity]) return false;
  for (const [label, value] of Object.entries(sub.match.labels)) {
    if (rollout.labels[label] !== value) return false;
  }
  if (
    sub.match.scaleSets.length > 0 &&
    !rollout.scaleSetIds.some((id) => matchesAnyGlob(id, sub.match.scaleSets))
  )
    return false;
  return true;
}

export function summarize(input: DeriveInput): RolloutSummary {
  const { spec } = input.rollout;
  const summary: RolloutSummary = {
    id: input.rolloutId,
    name: input.rollout.name,
    phase: input.rollout.phase,
    labels: { ...spec.labels },
    scaleSetIds: spec.waves.flatMap((w) => w.scaleSets),
  };
  if (input.rollout.createdBy !== undefined) summary.createdBy = input.rollout.createdBy;
  if (spec.owner !== undefined) summary.owner = spec.owner;
  if (spec.changeRecord !== undefined) summary.changeRecord = spec.changeRecord;
  return summary;
}

export function deriveDeliveries(
  config: Pick<NotificationsConfig, "subscriptions">,
  input: DeriveInput,
  wallClock: Date,
): NotificationDelivery[] {
  if (config.subscriptions.length === 0) return [];
  const out: NotificationDelivery[] = [];
  let rollout: RolloutSummary | undefined;
  input.entries.forEach((entry, index) => {
    const trigger = triggerOf(entry);
    if (trigger === undefined) return;
    rollout ??= summarize(input);
    const eventId = `${input.rolloutId}.r${input.revision}.${index}`;
    const details: Record<string, unknown> = {};
    for (const key of detailKeys) if (entry.data?.[key] !== undefined) details[key] = entry.data[key];
    for (const sub of config.subscriptions) {
      if (!subscriptionMatches(sub, trigger, rollout)) continue;
      out.push({
        id: `${eventId}.${sub.name}`,
        eventId,
        subscription: sub.name,
        service: sub.service,
        trigger,
        severity: triggerTable[trigger].severity,
        at: entry.at,
        createdAt: wallClock.toISOString(),
        message: entry.message,
        details,
        rollout,
        attempts: 0,
      });
    }
  });
  return out;
}
