/**
 * The Log Analytics query API as @azure/monitor-query-logs calls it, under `/loganalytics`:
 * `POST /v1/workspaces/{workspaceId}/query` (the simulator's one workspace, every scale set) and
 * `POST /v1/{resourceId}/query` (a scale set, or every scale set under a resource group or
 * subscription). Body `{ query, timespan: "start/end" }`; answer
 * `{ tables: [{ name: "PrimaryResult", columns: [{ name, type }], rows }] }`. The query is
 * evaluated by ../kql.ts (a documented subset); anything else answers 400 in the API's error
 * shape (BadArgumentError → SyntaxError/SemanticError → SYN0002/SEM0100). A `logsPartialError`
 * fault adds the `error` member of a partial answer (PartialError) beside the tables.
 *
 * Time axis: at time scale 1, the wall clock. Faster, like the metrics endpoint, the timespan's
 * end is taken as the caller's now and the version history is projected onto the caller's axis.
 * Records are readable at once (no ingestion delay). Stateless.
 */
import { randomUUID } from "node:crypto";
import { ArmError } from "../arm-errors.ts";
import { evaluateKql, KqlError } from "../kql.ts";
import { logTables } from "../log-tables.ts";
import type { Route, SimContext, SimRequest, SimResponse } from "../router.ts";
import { route } from "../router.ts";
import type { ScaleSetState } from "../state.ts";

/** The simulator's Log Analytics workspace (customer id): every scale set reports to it. */
export const SIM_WORKSPACE_ID = "4b1c7a52-9d3e-4f0a-8c6b-2e5d7f9a1b3c";
const MAX_SPAN_MS = 2 * 86_400_000;

function badArgument(inner: { code: string; message: string; innererror?: unknown }): SimResponse {
  return {
    status: 400,
    body: {
      error: {
        message: "The request had some invalid properties",
        code: "BadArgumentError",
        correlationId: randomUUID(),
        innererror: inner,
      },
    },
  };
}

function queryError(error: KqlError): SimResponse {
  return badArgument({
    code: error.kind,
    message:
      error.kind === "SyntaxError"
        ? "A recognition error occurred in the query."
        : "A semantic error occurred.",
    innererror: { code: error.detailCode, message: error.message },
  });
}

function timespan(text: unknown, nowMs: number): { startMs: number; endMs: number } | string {
  if (typeof text !== "string") return "timespan is required here: start/end as ISO 8601 datetimes";
  const [start = "", end = ""] = text.split("/");
  const startMs = Date.parse(start);
  const endMs = end ? Date.parse(end) : nowMs;
  if (Number.isNaN(startMs) || Number.isNaN(endMs) || startMs >= endMs)
    return `Invalid timespan '${text}': the simulator takes 'start/end' with start before end`;
  if (endMs - startMs > MAX_SPAN_MS)
    return `Invalid timespan '${text}': the simulator answers at most two days`;
  return { startMs, endMs };
}

function answer(
  ctx: SimContext,
  req: SimRequest,
  scaleSets: ScaleSetState[],
  operation: string,
): SimResponse {
  const body = (req.body ?? {}) as { query?: unknown; timespan?: unknown };
  if (typeof body.query !== "string" || body.query.trim() === "")
    return badArgument({ code: "QueryMissing", message: "The request body must contain a query." });
  const span = timespan(body.timespan, ctx.fleet.clock.wallNow());
  if (typeof span === "string") return badArgument({ code: "InvalidTimespan", message: span });
  const scale = ctx.fleet.clock.timeScale;
  const wallNow = ctx.fleet.clock.wallNow();
  const toWall = scale === 1 ? (ms: number) => ms : (ms: number) => wallNow - (span.endMs - ms) / scale;
  const fromWall = scale === 1 ? (ms: number) => ms : (ms: number) => span.endMs - (wallNow - ms) * scale;
  const tables = logTables(ctx.fleet, scaleSets, { ...span, toWall, fromWall });
  let result: ReturnType<typeof evaluateKql>;
  try {
    result = evaluateKql(body.query, tables);
  } catch (error) {
    if (error instanceof KqlError) return queryError(error);
    throw error;
  }
  const partial = ctx.faults.takeLogsPartialError(operation);
  return {
    status: 200,
    body: {
      tables: [result],
      ...(partial
        ? {
            error: {
              code: "PartialError",
              message: "There were some errors when processing your query.",
              details: [
                {
                  code: "EngineError",
                  message: "Something went wrong processing your query on the server.",
                  innererror: {
                    code: "-2133196797",
                    message: partial.message,
                    severity: 2,
                    severityName: "Error",
                  },
                },
              ],
            },
          }
        : {}),
    },
  };
}

function queryWorkspace(ctx: SimContext, req: SimRequest): SimResponse {
  const [workspaceId = ""] = req.params;
  if (workspaceId.toLowerCase() !== SIM_WORKSPACE_ID)
    return {
      status: 404,
      body: {
        error: {
          message: `The workspace could not be found`,
          code: "WorkspaceNotFoundError",
          correlationId: randomUUID(),
          innererror: {
            code: "WorkspaceNotFoundError",
            message: `Workspace '${workspaceId}' was not found.`,
          },
        },
      },
    };
  return answer(ctx, req, ctx.fleet.state.scaleSets, "logs.queryWorkspace");
}

function queryResource(ctx: SimContext, req: SimRequest): SimResponse {
  const [path = ""] = req.params;
  const resourceId = `/${path.replace(/^\/+/, "")}`.toLowerCase();
  const scaleSets = ctx.fleet.state.scaleSets.filter((ss) => {
    const id = ss.id.toLowerCase();
    return id === resourceId || id.startsWith(`${resourceId}/`);
  });
  if (scaleSets.length === 0)
    throw new ArmError(404, "ResourceNotFound", `The resource '${resourceId}' was not found.`);
  return answer(ctx, req, scaleSets, "logs.queryResource");
}

export const logsRoutes: Route[] = [
  route("POST", "^/loganalytics/v1/workspaces/([^/]+)/query$", "logs.queryWorkspace", queryWorkspace),
  route("POST", "^/loganalytics/v1/+(subscriptions/.+)/query$", "logs.queryResource", queryResource),
];
