/**
 * The logQuery gate's spec: a KQL query against a Log Analytics workspace or in the context of a
 * resource, over the evaluation's window, with a condition on its answer: at most `maxRows` rows,
 * or every row's `column` within `min`/`max`. Placeholders (./placeholders.ts) are the only way
 * the batch reaches the query; one the gate does not know is refused here, naming it.
 */
import { z } from "zod";
import { gateNameField, onInconclusive } from "../schema-fields.ts";
import { placeholderNames, unknownPlaceholders } from "./placeholders.ts";

/** A Log Analytics workspace id (its customer id): a GUID. */
const workspaceId = z
  .string()
  .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, "a workspace GUID");
const resourceId = z
  .string()
  .regex(/^\/subscriptions\/[^/]+\/\S+$/i, "an ARM resource id (/subscriptions/…)");

export const logQueryGateSchema = z
  .strictObject({
    name: gateNameField,
    kind: z.literal("logQuery"),
    workspaceId: workspaceId.optional(),
    resourceId: resourceId.optional(),
    query: z.string().min(1).max(10_000),
    /** How far back the window reaches from its end (never before the batch came back). */
    lookbackSeconds: z.number().int().min(60).max(86_400).default(900),
    /** Log records arrive late: the window ends this long before now. */
    ingestionDelaySeconds: z.number().int().min(0).max(3600).default(300),
    /** The condition: at most this many rows… */
    maxRows: z.number().int().min(0).optional(),
    /** …or every row's value of this column within min/max. */
    column: z.string().min(1).max(256).optional(),
    min: z.number().optional(),
    max: z.number().optional(),
    /** Log Analytics answered part of the query only: fail the gate, or call it inconclusive. */
    onPartialFailure: z.enum(["fail", "inconclusive"]).default("inconclusive"),
    /** Rows kept in the evidence. */
    evidenceRows: z.number().int().min(0).max(50).default(5),
    onInconclusive,
  })
  .superRefine((gate, ctx) => {
    if ((gate.workspaceId === undefined) === (gate.resourceId === undefined))
      ctx.addIssue({
        code: "custom",
        path: ["workspaceId"],
        message: "a logQuery gate needs exactly one of workspaceId and resourceId",
      });
    const byColumn = gate.column !== undefined;
    if (gate.maxRows !== undefined && byColumn)
      ctx.addIssue({ code: "custom", path: ["maxRows"], message: "give maxRows or column, not both" });
    if (gate.maxRows === undefined && !byColumn)
      ctx.addIssue({
        code: "custom",
        path: ["maxRows"],
        message: "a logQuery gate needs a condition: maxRows, or column with min and/or max",
      });
    if (byColumn && gate.min === undefined && gate.max === undefined)
      ctx.addIssue({ code: "custom", path: ["column"], message: "column needs min, max or both" });
    if (!byColumn && (gate.min !== undefined || gate.max !== undefined))
      ctx.addIssue({ code: "custom", path: ["column"], message: "min and max apply to a column: name it" });
    for (const unknown of unknownPlaceholders(gate.query))
      ctx.addIssue({
        code: "custom",
        path: ["query"],
        message: `unknown placeholder {${unknown}}: known are ${placeholderNames.map((name) => `{${name}}`).join(", ")}`,
      });
  });

export type LogQueryGateSpec = z.output<typeof logQueryGateSchema>;
