/**
 * The logQuery gate against the simulator's Log Analytics API through the real SDK
 * (@azure/monitor-query-logs, canaryd's logs adapter): the demo versions' Syslog rows, the API's
 * 400 and partial answers, and placeholders that stay literals.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AzureAdapterError } from "../../../src/azure/errors.ts";
import type { GateResult } from "../../../src/domain/effects.ts";
import type { GateSpec } from "../../../src/domain/spec.ts";
import { gateSchema } from "../../../src/domain/spec.ts";
import { createEffectExecutor } from "../../../src/effects/create-effect-executor.ts";
import { type DemoFleet, startDemoFleet } from "../azure/demo-simulator.ts";
import { drive, engineConfig, spec } from "../effects/drive-effect.ts";

let fleet: DemoFleet;
let workspaceId: string;

beforeAll(async () => {
  fleet = await startDemoFleet({ timeScale: 60 });
  workspaceId = fleet.sim.connection.logAnalyticsWorkspaceId;
});
afterAll(async () => {
  await fleet?.close();
});

const syslogErrors = (extra: Record<string, unknown> = {}): GateSpec =>
  gateSchema.parse({
    kind: "logQuery",
    name: "syslog-errors",
    workspaceId,
    query:
      'Syslog | where Computer in ({canaryComputers}) and SeverityLevel in ("err", "crit", "alert", "emerg") and TimeGenerated between ({start} .. {end}) | project TimeGenerated, Computer, SyslogMessage',
    maxRows: 0,
    // The simulator's records are readable at once; a 60x clock cannot wait 300 s.
    ingestionDelaySeconds: 0,
    ...extra,
  });

/** Moves one instance to `version` through the effects, then evaluates `gates` on it. */
async function canaryOn(scaleSet: string, instanceId: string, version: string, gates: GateSpec[]) {
  const execute = createEffectExecutor({ azure: fleet.azure, config: engineConfig, allowLatestFor: [] });
  const scaleSetId = fleet.scaleSetId(scaleSet);
  const target = { id: fleet.versionId(version) };
  const rollout = spec({
    image: { galleryImageVersionId: target.id },
    waves: [{ name: "w", scaleSets: [scaleSetId] }],
  });
  await drive(
    execute,
    { kind: "setModelImage", scaleSetId, target, previous: { id: fleet.versionId("1.0.0") } },
    { spec: rollout },
  );
  const upgraded = await drive(
    execute,
    { kind: "upgradeInstances", scaleSetId, instanceIds: [instanceId], image: target, purpose: "rollout" },
    { spec: rollout },
  );
  expect(upgraded.outcome.type).toBe("instances.upgraded");
  const since = new Date().toISOString();
  // Two simulated minutes on: the caller's clock (the query's end) has moved as far as the fleet.
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const later = () => new Date(Date.parse(since) + 120_000);
  const { outcome } = await drive(
    execute,
    {
      kind: "evaluateGates",
      scaleSetId,
      instanceIds: [instanceId],
      gates,
      maxUnhealthyPercent: 0,
      since,
      attempt: 0,
    },
    { spec: rollout, now: later },
  );
  if (outcome.type !== "gates.evaluated") throw new Error(outcome.type);
  return { outcome, result: outcome.results[0] as GateResult, since, later };
}

describe("logQuery gate on the demo versions", () => {
  // Mutations: the simulator writes no error rows for 1.3.0 (behaviour.logs), the judge passes
  // maxRows breaches, or {canaryComputers} is substituted with no names → this test fails.
  it("fails a 1.3.0 canary on its Syslog error rows, with the query as sent and the row in evidence", async () => {
    const { outcome, result } = await canaryOn("web-b", "0", "1.3.0", [syslogErrors()]);
    expect(outcome.verdict).toBe("failed");
    expect(result.verdict).toBe("failed");
    expect(result.summary).toMatch(/more than maxRows 0/);
    const evidence = result.evidence as {
      query: string;
      rows: { Computer: string; SyslogMessage: string }[];
      rowCount: number;
      window: { start: string; end: string };
      canaryComputers: string[];
    };
    expect(evidence.canaryComputers).toEqual(["web-b000000"]);
    expect(evidence.query).toContain('Computer in (dynamic(["web-b000000"]))');
    expect(evidence.query).toMatch(/between \(datetime\(\d{4}-.*Z\) \.\. datetime\(.*Z\)\)/);
    expect(evidence.query).not.toContain("{");
    expect(evidence.rowCount).toBeGreaterThan(0);
    expect(evidence.rows[0]).toMatchObject({
      Computer: "web-b000000",
      SyslogMessage: expect.stringMatching(/error/),
    });
    expect(Date.parse(evidence.window.end)).toBeGreaterThan(Date.parse(evidence.window.start));
    expect(fleet.sim.requestLog({ operation: "logs.queryWorkspace" }).length).toBeGreaterThan(0);
  });

  // Mutation: 1.2.0's behaviour loses its error rows → passes → this test fails.
  it("fails a 1.2.0 canary too", async () => {
    const { result } = await canaryOn("web-c", "0", "1.2.0", [syslogErrors()]);
    expect(result.verdict).toBe("failed");
    expect((result.evidence.rows as unknown[]).length).toBeGreaterThan(0);
  });

  // Mutations: the simulator writes error rows for every version, or the window is not clamped
  // to the batch's return (1.0.0 is clean too, so clamping alone is not what this checks) → fails.
  it("passes a 1.1.0 canary: no error rows on its computer", async () => {
    const { result } = await canaryOn("web-d", "1", "1.1.0", [syslogErrors()]);
    expect(result.verdict).toBe("passed");
    expect(result.evidence).toMatchObject({ rowCount: 0, status: "Success" });
  });

  // Mutation: the gate queries queryWorkspace for a resourceId spec, or the simulator's resource
  // route does not scope to the scale set → fails.
  it("queries in the context of a resource (the scale set) with a column condition", async () => {
    const gate = gateSchema.parse({
      kind: "logQuery",
      resourceId: fleet.scaleSetId("web-a"),
      query:
        'Syslog | where Computer in ({canaryComputers}) and SeverityLevel == "err" | summarize errors = count() by Computer',
      column: "errors",
      max: 0,
      ingestionDelaySeconds: 0,
    });
    const { result } = await canaryOn("web-a", "2", "1.3.0", [gate]);
    expect(result.verdict).toBe("failed");
    expect(result.summary).toMatch(/errors = \d+, above max 0/);
    expect(result.evidence).toMatchObject({ offendingRow: { Computer: "web-a000002" } });
    expect(fleet.sim.requestLog({ operation: "logs.queryResource" }).length).toBeGreaterThan(0);
  });

  // Mutations: the simulator ignores the logsPartialError fault, or the judge treats a partial
  // answer as a pass → fails (inconclusive by default, failed with onPartialFailure: fail).
  it("a partial answer is inconclusive by default and failed with onPartialFailure: fail", async () => {
    fleet.sim.addFault({ kind: "logsPartialError", operation: "logs.queryWorkspace", count: 2 });
    const { result } = await canaryOn("web-d", "4", "1.1.0", [syslogErrors()]);
    expect(result.verdict).toBe("inconclusive");
    expect(result.summary).toMatch(/answered only in part \(PartialError/);
    expect(result.evidence).toMatchObject({
      status: "PartialFailure",
      partialError: { code: "PartialError" },
    });
    const failing = await canaryOn("web-d", "5", "1.1.0", [syslogErrors({ onPartialFailure: "fail" })]);
    expect(failing.result.verdict).toBe("failed");
  });
});

describe("the simulator's Log Analytics API through the SDK", () => {
  const now = new Date();
  const hourAgo = new Date(now.getTime() - 3600_000);

  // Mutation: the simulator answers a query outside its subset with 200 (guessing) → fails.
  it("answers a query outside the documented subset 400 in the API's error shape", async () => {
    const error = await fleet.azure.logs
      .query({ target: { workspaceId }, query: "Syslog | extend x = 1", start: hourAgo, end: now })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AzureAdapterError);
    expect(error).toMatchObject({ statusCode: 400, azureCode: "BadArgumentError" });
    expect((error as Error).message).toMatch(/Query could not be parsed at 'extend'/);
  });

  // Mutation: an unknown column is ignored instead of refused → fails.
  it("refuses an unknown column as a semantic error", async () => {
    const error = await fleet.azure.logs
      .query({ target: { workspaceId }, query: 'Syslog | where Nope == "x"', start: hourAgo, end: now })
      .catch((caught: unknown) => caught);
    expect((error as Error).message).toMatch(/Failed to resolve scalar expression named 'Nope'/);
  });

  // Mutation: an unknown workspace answers rows → fails.
  it("answers 404 for another workspace", async () => {
    const error = await fleet.azure.logs
      .query({
        target: { workspaceId: "00000000-0000-0000-0000-000000000000" },
        query: "Syslog",
        start: hourAgo,
        end: now,
      })
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ statusCode: 404, azureCode: "WorkspaceNotFoundError" });
  });

  // Mutation: the placeholders are spliced raw (no escaping) → the injected `| take 0` empties
  // the answer, or the dynamic() literal breaks → fails. The simulator evaluates the escaped name
  // as one literal: only the real computer's rows come back.
  it("keeps a computer name with quote, parenthesis and pipe inside its literal", async () => {
    const { substitutePlaceholders } = await import("../../../src/gates/log-query/placeholders.ts");
    const hostile = 'x") | take 0 | where Computer != ("';
    const query = substitutePlaceholders(
      "Heartbeat | where Computer in ({canaryComputers}) | summarize count() by Computer",
      {
        canaryComputers: ["web-a000000", hostile],
        baselineComputers: [],
        start: hourAgo,
        end: now,
      },
    );
    const answer = await fleet.azure.logs.query({ target: { workspaceId }, query, start: hourAgo, end: now });
    expect(answer.status).toBe("Success");
    const rows = answer.tables[0]?.rows ?? [];
    expect(rows.map((row) => row[0])).toEqual(["web-a000000"]);
    expect(Number(rows[0]?.[1])).toBeGreaterThan(0);
  });
});
