/** Route table types shared by the route modules, and the matcher the server uses. */
import type { ArmError } from "./arm-errors.ts";
import type { FaultController } from "./faults.ts";
import type { Fleet } from "./fleet.ts";
import type { RequestLog } from "./request-log.ts";
import type { ResourceGraphQuota } from "./routes/resource-graph.ts";

export interface SimContext {
  fleet: Fleet;
  faults: FaultController;
  log: RequestLog;
  /** `https://host:port` as clients reach the simulator. */
  baseUrl: string;
  lroRetryAfterSeconds: number;
  vmListPageSize: number;
  /** Azure Resource Graph: rows per page (at most 1000) and the per-user query quota. */
  resourceGraph: { pageSize: number; quota: ResourceGraphQuota };
  /** Signs and checks the SAS-style query strings of boot diagnostics blobs. */
  signBlob(path: string, expiresAtMs: number): string;
  /** Marks the fleet state dirty so it gets persisted. */
  changed(): void;
  admin: AdminHooks;
  /** The scenario's events and their state (set once the simulator has started them). */
  scenarioEvents?: { list(): unknown[]; add(event: unknown): unknown };
}

/** In-process controls the admin routes expose over HTTP (implemented in index.ts). */
export interface AdminHooks {
  addFault(spec: unknown): { id: string };
  removeFault(id: string): boolean;
  clearFaults(): void;
  listFaults(): unknown[];
}

export interface SimRequest {
  method: string;
  url: URL;
  /** Capture groups of the route pattern, URI-decoded. */
  params: string[];
  body: unknown;
  /** Request headers, lowercased names (If-Match, If-None-Match). */
  headers: Record<string, string | string[] | undefined>;
}

export interface SimResponse {
  status: number;
  body?: unknown;
  /** A non-JSON body (serial console log, screenshot). */
  raw?: string | Buffer;
  contentType?: string;
  headers?: Record<string, string>;
}

export interface Route {
  method: "GET" | "PUT" | "PATCH" | "POST" | "DELETE";
  pattern: RegExp;
  operation: string;
  /** bearer: the static token; sas: a signed query string (blob downloads). */
  auth: "bearer" | "sas";
  /** Admin routes are never subject to faults. */
  faultable: boolean;
  handle(ctx: SimContext, req: SimRequest): SimResponse | Promise<SimResponse>;
}

export type RouteError = ArmError;

export function matchRoute(
  routes: Route[],
  method: string,
  path: string,
): { route: Route; params: string[] } | undefined {
  for (const route of routes) {
    if (route.method !== method) continue;
    const match = route.pattern.exec(path);
    if (match) return { route, params: match.slice(1).map((p) => decodeURIComponent(p ?? "")) };
  }
  return undefined;
}

/** `/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute` as a case-insensitive pattern prefix. */
export const COMPUTE_RG = String.raw`^/subscriptions/([^/]+)/resourcegroups/([^/]+)/providers/microsoft\.compute`;

export function route(
  method: Route["method"],
  pattern: string,
  operation: string,
  handle: Route["handle"],
  options: { auth?: Route["auth"]; faultable?: boolean } = {},
): Route {
  return {
    method,
    pattern: new RegExp(pattern, "i"),
    operation,
    auth: options.auth ?? "bearer",
    faultable: options.faultable ?? true,
    handle,
  };
}
