/** Turns the machine's timeline lines into release-record entries stamped with the engine's time. */

import { redactSecrets } from "../../logging/redact.ts";
import type { PendingTimelineEntry } from "../store/rollout-store.ts";
import type { DecidedTimelineEntry } from "./decider.ts";

export function timelineEntries(lines: DecidedTimelineEntry[], now: Date): PendingTimelineEntry[] {
  return lines.map((line) => {
    const entry: PendingTimelineEntry = {
      at: now.toISOString(),
      actor: line.actor,
      type: line.type,
      message: redactSecrets(line.message),
    };
    // The patterns never match a quote, so redacting the JSON text keeps it valid JSON.
    if (line.data !== undefined) entry.data = JSON.parse(redactSecrets(JSON.stringify(line.data)));
    return entry;
  });
}
