/**
 * The logQuery gate's pure parts: the spec schema's refusals, placeholder substitution as KQL
 * literals (checked by the simulator's KQL evaluator, so a name stays one literal there too), and
 * the judge's verdicts. Each test names the mutation it catches.
 */
import { describe, expect, it } from "vitest";
import type { LogsQueryAnswer } from "../../../src/azure/logs.ts";
import { gateSchema } from "../../../src/domain/spec.ts";
import { judgeLogQuery, type LogQueryInput } from "../../../src/gates/log-query/judge.ts";
import {
  kqlString,
  PlaceholderError,
  substitutePlaceholders,
} from "../../../src/gates/log-query/placeholders.ts";
import { type LogQueryGateSpec, logQueryGateSchema } from "../../../src/gates/log-query/schema.ts";
import { evaluateKql, KqlError } from "../../../src/simulator/kql.ts";
import type { LogTable } from "../../../src/simulator/log-tables.ts";

const workspaceId = "4b1c7a52-9d3e-4f0a-8c6b-2e5d7f9a1b3c";
const gate = (extra: Record<string, unknown>): LogQueryGateSpec =>
  logQueryGateSchema.parse({ kind: "logQuery", workspaceId, query: "Syslog", ...extra });

const table = (columns: string[], rows: unknown[][]) => ({
  name: "PrimaryResult",
  columns: columns.map((name) => ({ name, type: name === "count_" ? "long" : "string" })),
  rows,
});
const success = (t: ReturnType<typeof table>): LogsQueryAnswer => ({ status: "Success", tables: [t] });
const partial = (t: ReturnType<typeof table>): LogsQueryAnswer => ({
  status: "PartialFailure",
  tables: [t],
  error: { code: "PartialError", message: "There were some errors when processing your query." },
});
function judge(spec: LogQueryGateSpec, answer: LogQueryInput["answer"], extra: Partial<LogQueryInput> = {}) {
  return judgeLogQuery({
    spec,
    query: 'Syslog | where Computer in (dynamic(["web-a000000"]))',
    window: { start: "2026-12-04T18:00:00.000Z", end: "2026-12-04T18:15:00.000Z" },
    answer,
    measuredAt: "2026-12-04T18:20:00.000Z",
    instanceIds: ["0"],
    canaryComputers: ["web-a000000"],
    ...extra,
  });
}

describe("logQuery spec", () => {
  // Mutation: the placeholder check is dropped from the schema → an unknown one is accepted.
  it("refuses an unknown placeholder, naming it", () => {
    const parsed = gateSchema.safeParse({
      kind: "logQuery",
      workspaceId,
      query: "Syslog | where Computer in ({canaryHosts})",
      maxRows: 0,
    });
    expect(parsed.success).toBe(false);
    expect(JSON.stringify(parsed.error?.issues)).toContain("unknown placeholder {canaryHosts}");
  });

  // Mutation: the exactly-one-target or needs-a-condition refinements are dropped.
  it("needs exactly one target and one condition", () => {
    const base = { kind: "logQuery", query: "Syslog", maxRows: 0 };
    expect(gateSchema.safeParse(base).success).toBe(false);
    expect(gateSchema.safeParse({ ...base, workspaceId, resourceId: "/subscriptions/x/rg" }).success).toBe(
      false,
    );
    expect(gateSchema.safeParse({ kind: "logQuery", workspaceId, query: "Syslog" }).success).toBe(false);
    expect(gateSchema.safeParse({ ...base, workspaceId, column: "x", max: 1 }).success).toBe(false);
    expect(
      gateSchema.safeParse({ kind: "logQuery", workspaceId, query: "Syslog", column: "x" }).success,
    ).toBe(false);
    const ok = gateSchema.parse({ ...base, workspaceId });
    expect(ok).toMatchObject({
      lookbackSeconds: 900,
      ingestionDelaySeconds: 300,
      onPartialFailure: "inconclusive",
    });
  });
});

describe("placeholders", () => {
  const values = {
    canaryComputers: ["web-a000000"],
    baselineComputers: ["web-a000002", "web-a000003"],
    start: new Date("2026-12-04T18:00:00Z"),
    end: new Date("2026-12-04T18:15:00Z"),
  };

  // Mutation: names or datetimes spliced raw (no quotes, no datetime()) → fails.
  it("substitutes lists as dynamic string arrays and times as datetime literals", () => {
    expect(
      substitutePlaceholders(
        "Heartbeat | where Computer in ({canaryComputers}) or Computer in ({baselineComputers}) | where TimeGenerated between ({start} .. {end})",
        values,
      ),
    ).toBe(
      'Heartbeat | where Computer in (dynamic(["web-a000000"])) or Computer in (dynamic(["web-a000002", "web-a000003"])) | where TimeGenerated between (datetime(2026-12-04T18:00:00.000Z) .. datetime(2026-12-04T18:15:00.000Z))',
    );
  });

  // Mutation: a second substitution pass (a value holding "{end}" is expanded) → fails.
  it("never scans a substituted value again", () => {
    expect(substitutePlaceholders("{canaryComputers}", { ...values, canaryComputers: ["a{end}"] })).toBe(
      'dynamic(["a{end}"])',
    );
  });

  // Mutation: `"` or `\` not escaped → the evaluator reads another string, or several tokens.
  it.each([
    ["quote", 'web"a'],
    ["parenthesis and pipe", 'x") | take 0 | where Computer != ("'],
    ["backslash before a quote", 'ends\\" | take 0'],
  ])("keeps a name with a %s one literal: the simulator's KQL matches exactly that name", (_what, name) => {
    const rows: unknown[][] = [
      [name, "err"],
      ["web-a000000", "err"],
      ["x", "err"],
    ];
    const syslog: LogTable = {
      name: "Syslog",
      columns: [
        { name: "Computer", type: "string" },
        { name: "SeverityLevel", type: "string" },
      ],
      rows,
    };
    const query = substitutePlaceholders("Syslog | where Computer in ({canaryComputers})", {
      ...values,
      canaryComputers: [name],
    });
    expect(evaluateKql(query, [syslog]).rows).toEqual([[name, "err"]]);
    expect(evaluateKql(`Syslog | where Computer == ${kqlString(name)}`, [syslog]).rows).toEqual([
      [name, "err"],
    ]);
  });

  // Mutation: control characters let through → a line break could end the literal elsewhere.
  it("refuses a name with a control character", () => {
    expect(() => kqlString("a\nb")).toThrow(PlaceholderError);
  });
});

describe("the simulator's KQL subset", () => {
  const syslog: LogTable = {
    name: "Syslog",
    columns: [
      { name: "TimeGenerated", type: "datetime" },
      { name: "Computer", type: "string" },
      { name: "SeverityLevel", type: "string" },
    ],
    rows: [
      ["2026-12-04T18:01:00.000Z", "a", "err"],
      ["2026-12-04T18:02:00.000Z", "a", "info"],
      ["2026-12-04T18:20:00.000Z", "b", "err"],
    ],
  };

  // Mutations: between ignores its bounds, summarize without by answers no row over no input.
  it("evaluates where/between/summarize as documented", () => {
    const windowed = evaluateKql(
      'Syslog | where SeverityLevel == "err" and TimeGenerated between (datetime(2026-12-04T18:00:00Z) .. datetime(2026-12-04T18:10:00Z)) | summarize count() by Computer',
      [syslog],
    );
    expect(windowed.columns).toEqual([
      { name: "Computer", type: "string" },
      { name: "count_", type: "long" },
    ]);
    expect(windowed.rows).toEqual([["a", 1]]);
    expect(evaluateKql('Syslog | where Computer == "zzz" | summarize n = count()', [syslog]).rows).toEqual([
      [0],
    ]);
  });

  // Mutation: an unsupported operator is skipped instead of refused.
  it("refuses what it does not know", () => {
    expect(() => evaluateKql("Syslog | extend x = 1", [syslog])).toThrow(KqlError);
    expect(() => evaluateKql('Syslog | where Computer == "a" or Computer == "b"', [syslog])).toThrow(/or/);
    expect(() => evaluateKql("Nope", [syslog])).toThrow(/Failed to resolve table/);
  });
});

describe("logQuery judge", () => {
  // Mutation: `>` becomes `>=` (or the row count is not compared) → fails.
  it("maxRows: passes at the limit, fails above it with the first row in the summary", () => {
    const one = table(["Computer", "SyslogMessage"], [["web-a000000", "upstream connect error"]]);
    expect(judge(gate({ maxRows: 1 }), success(one)).verdict).toBe("passed");
    const failed = judge(gate({ maxRows: 0 }), success(one));
    expect(failed.verdict).toBe("failed");
    expect(failed.summary).toContain("1 rows, more than maxRows 0");
    expect(failed.summary).toContain("SyslogMessage=upstream connect error");
    expect(failed.evidence).toMatchObject({
      rowCount: 1,
      rows: [{ Computer: "web-a000000", SyslogMessage: "upstream connect error" }],
      query: expect.stringContaining('dynamic(["web-a000000"])'),
      window: { start: "2026-12-04T18:00:00.000Z", end: "2026-12-04T18:15:00.000Z" },
    });
  });

  // Mutation: max and min swapped, or only the first row checked → fails.
  it("column with max / min: every row is judged", () => {
    const counts = table(
      ["Computer", "count_"],
      [
        ["a", 1],
        ["b", 7],
      ],
    );
    const overMax = judge(gate({ column: "count_", max: 5 }), success(counts));
    expect(overMax.verdict).toBe("failed");
    expect(overMax.summary).toContain("count_ = 7, above max 5");
    expect(overMax.evidence.offendingRow).toEqual({ Computer: "b", count_: 7 });
    const underMin = judge(gate({ column: "count_", min: 2 }), success(counts));
    expect(underMin.verdict).toBe("failed");
    expect(underMin.summary).toContain("count_ = 1, below min 2");
    expect(judge(gate({ column: "count_", min: 1, max: 7 }), success(counts)).verdict).toBe("passed");
  });

  // Mutation: no rows / missing column / a string value counted as a pass → fails.
  it("column: nothing to judge is inconclusive, never passed", () => {
    expect(judge(gate({ column: "count_", max: 5 }), success(table(["count_"], []))).verdict).toBe(
      "inconclusive",
    );
    expect(judge(gate({ column: "beats", max: 5 }), success(table(["count_"], [[1]]))).summary).toContain(
      "no column beats",
    );
    expect(judge(gate({ column: "count_", max: 5 }), success(table(["count_"], [["3"]]))).verdict).toBe(
      "inconclusive",
    );
  });

  // Mutation: onPartialFailure ignored, or a partial answer treated as a full one → fails.
  it("partial answers: inconclusive by default, failed with onPartialFailure: fail, a breach fails anyway", () => {
    const none = table(["Computer"], []);
    const inconclusive = judge(gate({ maxRows: 0 }), partial(none));
    expect(inconclusive.verdict).toBe("inconclusive");
    expect(inconclusive.evidence).toMatchObject({
      status: "PartialFailure",
      partialError: { code: "PartialError" },
    });
    expect(judge(gate({ maxRows: 0, onPartialFailure: "fail" }), partial(none)).verdict).toBe("failed");
    const breach = judge(gate({ maxRows: 0 }), partial(table(["Computer"], [["a"]])));
    expect(breach.verdict).toBe("failed");
    expect(breach.summary).toContain("partial answer");
  });

  // Mutation: an unanswered query judged as zero rows (a pass) → fails.
  it("no answer is inconclusive with the message", () => {
    const result = judge(gate({ maxRows: 0 }), { unanswered: "BadArgumentError: Query could not be parsed" });
    expect(result.verdict).toBe("inconclusive");
    expect(result.summary).toContain("Query could not be parsed");
  });

  // Mutation: the final coverage check dropped → a final look at a few seconds of logs passes.
  it("a final verdict needs the required coverage; a breach still fails", () => {
    const none = table(["Computer"], []);
    const short = { final: true, coverage: { seconds: 30, requiredSeconds: 300 } };
    expect(judge(gate({ maxRows: 0 }), success(none), short).summary).toContain(
      "not enough logs yet (30 of 300 s)",
    );
    expect(judge(gate({ maxRows: 0 }), success(table(["Computer"], [["a"]])), short).verdict).toBe("failed");
    expect(
      judge(gate({ maxRows: 0 }), success(none), { final: false, coverage: short.coverage }).verdict,
    ).toBe("passed");
  });
});
