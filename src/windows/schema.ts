/**
 * Change windows and freezes in configuration (`windows`, `freezes`): one schema, validated once
 * at daemon start. A bad entry stops the daemon with the key named (`windows.0.schedule`,
 * `windows.1.timeZone`, `windows.2.durationSeconds`, `freezes.0.end`): an invalid or never-firing
 * cron pattern, a time zone the runtime does not know (IANA names only), a zero-length window or
 * a freeze that ends before it starts.
 */
import { Cron } from "croner";
import { z } from "zod";

/** Whether the runtime knows the IANA time zone (Intl throws a RangeError for an unknown one). */
export function knownTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone });
    return true;
  } catch {
    return false;
  }
}

/** Why a cron pattern is refused, or undefined when it is valid and fires at least once more. */
export function cronProblem(schedule: string, timeZone: string): string | undefined {
  try {
    const cron = new Cron(schedule, { timezone: timeZone });
    return cron.nextRun() === null ? "the cron pattern never fires" : undefined;
  } catch (error) {
    return `not a valid cron pattern: ${(error as Error).message}`;
  }
}

const labelsSchema = z.record(z.string().min(1).max(63), z.string().max(256));

export const windowSchema = z
  .strictObject({
    name: z.string().min(1).max(100),
    /** allow: changes may start inside; deny: changes may not start inside (deny wins). */
    kind: z.enum(["allow", "deny"]),
    /** When each occurrence starts: 5 fields (minute…weekday) or 6 (with seconds first). */
    schedule: z.string().min(1).max(200),
    /** How long each occurrence lasts. */
    durationSeconds: z.number().int().min(1, "a window must last at least one second (zero-length)"),
    /** IANA time zone the schedule is read in (DST handled: a skipped hour fires at the next valid time). */
    timeZone: z.string().min(1).default("UTC"),
    /** Which waves the window applies to; absent or empty: every wave. */
    match: z
      .strictObject({
        /** Every label given must equal the rollout spec's label. */
        labels: labelsSchema.default({}),
        /** Scale set ids or globs (`*`, `?`, no case): a wave matches when any of its scale sets does. */
        scaleSets: z.array(z.string().min(1)).default([]),
      })
      .prefault({}),
  })
  .superRefine((window, ctx) => {
    if (!knownTimeZone(window.timeZone)) {
      ctx.addIssue({
        code: "custom",
        path: ["timeZone"],
        message: `unknown time zone ${JSON.stringify(window.timeZone)} (an IANA name such as Europe/Berlin)`,
      });
      return;
    }
    const problem = cronProblem(window.schedule, window.timeZone);
    if (problem) ctx.addIssue({ code: "custom", path: ["schedule"], message: problem });
  });

export const freezeSchema = z
  .strictObject({
    /** ISO 8601 with an offset or Z. */
    start: z.iso.datetime({ offset: true }),
    end: z.iso.datetime({ offset: true }),
    reason: z.string().min(1).max(500),
    ticket: z.string().max(200).optional(),
  })
  .refine((f) => Date.parse(f.end) > Date.parse(f.start), {
    path: ["end"],
    message: "a freeze must end after it starts (zero-length or reversed)",
  });

export const windowsSchema = z.array(windowSchema).default([]);
export const freezesSchema = z.array(freezeSchema).default([]);

export type ChangeWindow = z.output<typeof windowSchema>;
export type ChangeWindowInput = z.input<typeof windowSchema>;
export type Freeze = z.output<typeof freezeSchema>;
