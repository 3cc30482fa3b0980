/**
 * Log Analytics queries (logQuery gates) through @azure/monitor-query-logs: a KQL query against a
 * workspace (`POST /v1/workspaces/{id}/query`) or in the context of a resource
 * (`POST /v1{resourceId}/query`), over an explicit time range. Read-only: a re-run asks again.
 *
 * The answer keeps Log Analytics' own distinction: `Success` with tables, or `PartialFailure` with
 * the tables it got and the error (the query ran out of resources, a shard failed). An HTTP error
 * (a query the service refuses, 401/403, 5xx after the SDK's retries) is thrown as an
 * AzureAdapterError carrying the innermost message Log Analytics gave (e.g. where the query could
 * not be parsed). Cells are JSON values: datetimes as ISO strings.
 */
import { isRestError } from "@azure/core-rest-pipeline";
import type { LogsTable } from "@azure/monitor-query-logs";
import { redactSecrets } from "../logging/redact.ts";
import type { AzureClients } from "./clients.ts";
import { AzureAdapterError, isTransientStatus, wrapAzureError } from "./errors.ts";

export type LogsTarget = { workspaceId: string } | { resourceId: string };

export interface LogsTableData {
  name: string;
  columns: { name: string; type: string }[];
  rows: unknown[][];
}

export type LogsQueryAnswer =
  | { status: "Success"; tables: LogsTableData[] }
  | {
      status: "PartialFailure";
      tables: LogsTableData[];
      error: { code: string; message: string };
    };

export interface LogsQueryRequest {
  target: LogsTarget;
  query: string;
  start: Date;
  end: Date;
  /** Seconds the service may take (the `Prefer: wait=` header). */
  serverTimeoutSeconds?: number;
  signal?: AbortSignal;
}

export interface LogsAdapter {
  query(request: LogsQueryRequest): Promise<LogsQueryAnswer>;
}

function cell(value: unknown): unknown {
  return value instanceof Date ? value.toISOString() : value;
}

function tableData(table: LogsTable): LogsTableData {
  return {
    name: table.name,
    columns: table.columnDescriptors.map((column) => ({
      name: column.name ?? "",
      type: String(column.type ?? "string"),
    })),
    rows: table.rows.map((row) => row.map(cell)),
  };
}

/** The innermost message of a Log Analytics error (`error.innererror…`): where the query broke. */
function innermost(error: unknown): string | undefined {
  let found: string | undefined;
  let current = error as { message?: unknown; innererror?: unknown; details?: unknown } | undefined;
  for (let depth = 0; current && depth < 8; depth++) {
    if (typeof current.message === "string" && current.message) found = current.message;
    current = current.innererror as typeof current;
  }
  return found;
}

function describeError(error: { code?: string; message?: string; details?: unknown; innererror?: unknown }) {
  const inner = innermost(error.innererror);
  const detail = Array.isArray(error.details)
    ? (error.details as { message?: string; innererror?: unknown }[])
        .map((entry) => innermost(entry.innererror) ?? entry.message)
        .filter(Boolean)
        .join("; ")
    : "";
  return [error.message, inner, detail].filter((text) => text && text.length > 0).join(": ");
}

export function createLogsAdapter(clients: Pick<AzureClients, "logs">): LogsAdapter {
  return {
    async query(request) {
      const client = clients.logs();
      const timespan = { startTime: request.start, endTime: request.end };
      // @azure/monitor-query-logs 1.0.0 does not forward `abortSignal` to the request (its option
      // conversion keeps only Prefer and requestOptions): the server timeout bounds the call.
      const options = {
        serverTimeoutInSeconds: request.serverTimeoutSeconds ?? 60,
        ...(request.signal ? { abortSignal: request.signal } : {}),
      };
      const what =
        "workspaceId" in request.target
          ? `query Log Analytics workspace ${request.target.workspaceId}`
          : `query logs of ${request.target.resourceId}`;
      try {
        const result =
          "workspaceId" in request.target
            ? await client.queryWorkspace(request.target.workspaceId, request.query, timespan, options)
            : await client.queryResource(request.target.resourceId, request.query, timespan, options);
        if (result.status === "PartialFailure")
          return {
            status: "PartialFailure",
            tables: result.partialTables.map(tableData),
            error: {
              code: result.partialError.code ?? "PartialError",
              message: redactSecrets(describeError(result.partialError)),
            },
          };
        return { status: "Success", tables: result.tables.map(tableData) };
      } catch (error) {
        if (isRestError(error) && error.statusCode !== undefined) {
          const body = (error as { details?: { error?: Record<string, unknown> } }).details?.error;
          const status = error.statusCode;
          const azureCode = typeof body?.code === "string" ? body.code : (error.code ?? "UnknownError");
          const message = body ? describeError(body) : error.message;
          return Promise.reject(
            new AzureAdapterError(`AZURE_${status}`, `${what}: ${azureCode}: ${redactSecrets(message)}`, {
              statusCode: status,
              transient: isTransientStatus(status),
              azureCode,
            }),
          );
        }
        throw wrapAzureError(what, error);
      }
    },
  };
}
