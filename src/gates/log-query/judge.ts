/**
 * The logQuery gate's verdict from what Log Analytics answered. Pure.
 *
 * - `maxRows`: the first table (PrimaryResult) may hold at most that many rows;
 * - `column` with `min`/`max`: every row's value of the column must be a number within them; no
 *   rows, a missing column or a non-number is inconclusive (nothing to judge is not a pass).
 * - PartialFailure: what Log Analytics got may be missing rows, so a breach in it still fails, and
 *   otherwise `onPartialFailure` decides (fail, or inconclusive: the default).
 * - No answer (the query refused, Log Analytics unreachable): inconclusive with its message.
 * - A `final` evaluation covering less than `coverage.requiredSeconds`: what would pass is
 *   inconclusive (a breach still fails).
 *
 * Evidence: the query as sent (placeholders substituted), its target, the window, the row count
 * or judged values, the first `evidenceRows` rows (as objects by column name) and any error.
 */
import type { LogsQueryAnswer, LogsTableData } from "../../azure/logs.ts";
import type { GateJudgement } from "../../domain/effects.ts";
import type { LogQueryGateSpec } from "./schema.ts";

export interface LogQueryInput {
  spec: LogQueryGateSpec;
  /** The query as sent: placeholders substituted. */
  query: string;
  window: { start: string; end: string };
  /** What Log Analytics answered, or why it did not. */
  answer: LogsQueryAnswer | { unanswered: string };
  measuredAt: string;
  instanceIds: string[];
  /** The computers `{canaryComputers}` named. */
  canaryComputers: string[];
  /** The verdict that may end a bake: needs `coverage.requiredSeconds` of logs. */
  final?: boolean;
  /** Seconds of complete logs after the batch's latest return, and the need. */
  coverage?: { seconds: number; requiredSeconds: number };
}

const cellChars = 300;

function shownCell(value: unknown): unknown {
  if (typeof value === "string" && value.length > cellChars) return `${value.slice(0, cellChars)}…`;
  if (value !== null && typeof value === "object") {
    const text = JSON.stringify(value);
    return text.length > cellChars ? `${text.slice(0, cellChars)}…` : value;
  }
  return value;
}

function rowObjects(table: LogsTableData, count: number): Record<string, unknown>[] {
  return table.rows
    .slice(0, count)
    .map((row) =>
      Object.fromEntries(table.columns.map((column, index) => [column.name, shownCell(row[index])])),
    );
}

function rowText(row: Record<string, unknown> | undefined): string {
  if (!row) return "";
  const text = Object.entries(row)
    .map(([name, value]) => `${name}=${typeof value === "string" ? value : JSON.stringify(value)}`)
    .join(", ");
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

export function judgeLogQuery(input: LogQueryInput): GateJudgement {
  const { spec } = input;
  const target = spec.workspaceId ? { workspaceId: spec.workspaceId } : { resourceId: spec.resourceId };
  const condition =
    spec.maxRows !== undefined
      ? { maxRows: spec.maxRows }
      : {
          column: spec.column,
          ...(spec.min === undefined ? {} : { min: spec.min }),
          ...(spec.max === undefined ? {} : { max: spec.max }),
        };
  const common = {
    target,
    query: input.query,
    window: input.window,
    condition,
    canaryComputers: input.canaryComputers,
  };
  const base = { gate: "logQuery" as const, measuredAt: input.measuredAt, instanceIds: input.instanceIds };
  const label = spec.name ?? "logQuery";

  if ("unanswered" in input.answer)
    return {
      ...base,
      verdict: "inconclusive",
      summary: `${label}: Log Analytics gave no answer: ${input.answer.unanswered}`,
      evidence: { ...common, error: input.answer.unanswered },
    };

  const answer = input.answer;
  const partial = answer.status === "PartialFailure" ? answer.error : undefined;
  const table = answer.tables[0] ?? { name: "PrimaryResult", columns: [], rows: [] };
  const rows = rowObjects(table, spec.evidenceRows);
  const evidence: Record<string, unknown> = {
    ...common,
    status: answer.status,
    table: table.name,
    rowCount: table.rows.length,
    rows,
    ...(partial ? { partialError: partial } : {}),
    final: input.final ?? false,
    ...(input.coverage ? { coverage: input.coverage } : {}),
  };
  const partialNote = partial ? ` (partial answer: ${partial.message})` : "";

  // A breach in the rows that did arrive fails, partial answer or not.
  let breach: string | undefined;
  let held: string;
  if (spec.maxRows !== undefined) {
    if (table.rows.length > spec.maxRows)
      breach = `${table.rows.length} rows, more than maxRows ${spec.maxRows}; first: ${rowText(rows[0])}`;
    held = `${table.rows.length} rows, at most ${spec.maxRows}`;
  } else {
    const column = spec.column ?? "";
    const index = table.columns.findIndex((entry) => entry.name === column);
    if (index < 0)
      return {
        ...base,
        verdict: "inconclusive",
        summary: `${label}: the answer has no column ${column} (columns: ${table.columns.map((entry) => entry.name).join(", ") || "none"})${partialNote}`,
        evidence,
      };
    if (table.rows.length === 0)
      return {
        ...base,
        verdict: "inconclusive",
        summary: `${label}: no rows to judge ${column} by${partialNote}`,
        evidence,
      };
    const values = table.rows.map((row) => row[index]);
    evidence.values = values.slice(0, 50);
    const notNumber = values.findIndex((value) => typeof value !== "number" || !Number.isFinite(value));
    if (notNumber >= 0)
      return {
        ...base,
        verdict: "inconclusive",
        summary: `${label}: ${column} is not a number in row ${notNumber + 1}: ${JSON.stringify(values[notNumber])}`,
        evidence,
      };
    const numbers = values as number[];
    const offending = numbers.findIndex(
      (value) => (spec.max !== undefined && value > spec.max) || (spec.min !== undefined && value < spec.min),
    );
    if (offending >= 0) {
      const value = numbers[offending] ?? 0;
      const bound =
        spec.max !== undefined && value > spec.max ? `above max ${spec.max}` : `below min ${spec.min}`;
      const row = rowObjects({ ...table, rows: [table.rows[offending] ?? []] }, 1)[0];
      evidence.offendingRow = row;
      breach = `${column} = ${value}, ${bound} (row ${offending + 1}: ${rowText(row)})`;
    }
    const bounds = [
      spec.min === undefined ? "" : `>= ${spec.min}`,
      spec.max === undefined ? "" : `<= ${spec.max}`,
    ]
      .filter(Boolean)
      .join(" and ");
    held = `${column} ${bounds} in all ${numbers.length} rows`;
  }
  if (breach) return { ...base, verdict: "failed", summary: `${label}: ${breach}${partialNote}`, evidence };
  if (partial)
    return {
      ...base,
      verdict: spec.onPartialFailure === "fail" ? "failed" : "inconclusive",
      summary: `${label}: Log Analytics answered only in part (${partial.code}: ${partial.message}); ${held} so far`,
      evidence,
    };
  const coverage = input.coverage;
  if (input.final && coverage && coverage.seconds < coverage.requiredSeconds)
    return {
      ...base,
      verdict: "inconclusive",
      summary: `${label}: ${held} so far, but not enough logs yet (${coverage.seconds} of ${coverage.requiredSeconds} s)`,
      evidence,
    };
  return { ...base, verdict: "passed", summary: `${label}: ${held}`, evidence };
}
