/**
 * Azure Resource Graph: `POST /providers/Microsoft.ResourceGraph/resources` as the
 * `@azure/arm-resourcegraph` client calls it. Not a KQL engine: it recognises the query shape
 * canaryd sends (a table, a type filter, an optional resource-group filter, a projection, `order
 * by id asc`) and answers 400 `BadRequest`/`InvalidQuery` for anything else. Rows come from the
 * fleet's state, rendered as the resources' ARM wire JSON (scale sets in `resources`, instances of
 * Uniform scale sets in `computeresources`), paged with an opaque `$skipToken` tied to the query.
 * Every answer carries the per-user quota headers; a spent quota answers 429 (see docs/simulator.md).
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { ArmError } from "../arm-errors.ts";
import type { Route, SimContext, SimRequest, SimResponse } from "../router.ts";
import { route } from "../router.ts";
import { scaleSetJson, vmJson } from "../wire.ts";

/** A quota of `limit` queries per `windowSeconds` of wall time, as Resource Graph allots per user. */
export class ResourceGraphQuota {
  limit: number;
  windowMs: number;
  private windowStartMs = Number.NEGATIVE_INFINITY;
  private used = 0;
  private readonly now: () => number;

  constructor(settings: { limit: number; windowSeconds: number }, now: () => number) {
    this.limit = settings.limit;
    this.windowMs = settings.windowSeconds * 1000;
    this.now = now;
  }

  /** New limits start a new window. */
  set(settings: { limit: number; windowSeconds: number }): void {
    this.limit = settings.limit;
    this.windowMs = settings.windowSeconds * 1000;
    this.windowStartMs = Number.NEGATIVE_INFINITY;
    this.used = 0;
  }

  /** Spends one query if any is left; the headers say what remains either way. */
  take(): { allowed: boolean; headers: Record<string, string> } {
    const now = this.now();
    if (now >= this.windowStartMs + this.windowMs) {
      this.windowStartMs = now;
      this.used = 0;
    }
    const allowed = this.used < this.limit;
    if (allowed) this.used += 1;
    const resetsAfterS = Math.max(0, Math.ceil((this.windowStartMs + this.windowMs - now) / 1000));
    return {
      allowed,
      headers: {
        "x-ms-user-quota-remaining": String(this.limit - this.used),
        "x-ms-user-quota-resets-after": hms(resetsAfterS),
      },
    };
  }
}

const hms = (seconds: number) =>
  [Math.floor(seconds / 3600), Math.floor(seconds / 60) % 60, seconds % 60]
    .map((n) => String(n).padStart(2, "0"))
    .join(":");

/** api-versions of Microsoft.ResourceGraph/resources this simulator answers (the SDK 5.x sends 2024-04-01). */
const API_VERSIONS = new Set(["2021-03-01", "2022-10-01", "2024-04-01"]);
const MAX_TOP = 1000;
const DEFAULT_TOP = 100;

const requestSchema = z.object({
  subscriptions: z.array(z.string().min(1)).optional(),
  managementGroups: z.array(z.string()).optional(),
  query: z.string().min(1),
  options: z
    .object({
      $skipToken: z.string().optional(),
      $top: z.number().int().min(1).max(MAX_TOP).optional(),
      $skip: z.number().int().min(0).optional(),
      resultFormat: z.enum(["table", "objectArray"]).optional(),
    })
    .loose()
    .optional(),
  facets: z.array(z.unknown()).optional(),
});

const tables = {
  resources: "microsoft.compute/virtualmachinescalesets",
  computeresources: "microsoft.compute/virtualmachinescalesets/virtualmachines",
} as const;
type Table = keyof typeof tables;

/** Columns every Resource Graph row has, with the type the table format names. */
const columns: Record<string, string> = {
  id: "string",
  name: "string",
  type: "string",
  tenantId: "string",
  kind: "string",
  location: "string",
  resourceGroup: "string",
  subscriptionId: "string",
  managedBy: "string",
  sku: "object",
  plan: "object",
  properties: "object",
  tags: "object",
  identity: "object",
  zones: "object",
  extendedLocation: "object",
};

const QUERY = new RegExp(
  [
    "^(resources|computeresources)",
    String.raw`\| where type =~ '([^']+)'`,
    String.raw`(?:\| where resourceGroup in~ \(('[^']*'(?:, '[^']*')*)\)\n)?\| project ([A-Za-z, ]+)`,
    String.raw`\| order by id asc$`,
  ].join("\n"),
);

interface RecognisedQuery {
  table: Table;
  resourceGroups?: string[];
  project: string[];
}

function invalidQuery(why: string): ArmError {
  return new ArmError(
    400,
    "BadRequest",
    "Please provide below info when asking for support: timestamp, correlationId. Query is invalid.",
    {
      details: [
        {
          code: "InvalidQuery",
          message: `Query is invalid. This simulator answers only the queries canaryd sends (docs/simulator.md): ${why}`,
        },
      ],
    },
  );
}

export function recogniseQuery(text: string): RecognisedQuery {
  const match = QUERY.exec(text.replace(/\r\n/g, "\n").trim());
  if (!match) throw invalidQuery("the query does not have the recognised shape");
  const table = match[1] as Table;
  const type = match[2] ?? "";
  const groups = match[3];
  const project = match[4] ?? "";
  if (tables[table] !== type.toLowerCase())
    throw invalidQuery(`table ${table} is answered for type '${tables[table]}' only`);
  const names = project.split(",").map((c) => c.trim());
  const unknown = names.filter((c) => !(c in columns));
  if (unknown.length > 0 || !names.includes("id"))
    throw invalidQuery(
      unknown.length > 0 ? `unknown column(s) ${unknown.join(", ")}` : "id must be projected",
    );
  return {
    table,
    project: names,
    ...(groups ? { resourceGroups: groups.split(", ").map((g) => g.slice(1, -1).toLowerCase()) } : {}),
  };
}

/** Every row of the table, as Resource Graph holds it: the ARM wire JSON under fixed columns. */
function tableRows(ctx: SimContext, table: Table): Record<string, unknown>[] {
  const { fleet } = ctx;
  const subscriptionId = fleet.state.subscriptionId;
  const common = { tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47", kind: "", managedBy: "", plan: null };
  const rows: Record<string, unknown>[] = [];
  for (const ss of fleet.state.scaleSets) {
    if (table === "resources") {
      const wire = scaleSetJson(fleet, ss);
      rows.push({
        ...common,
        id: wire.id,
        name: wire.name,
        type: tables.resources,
        location: wire.location,
        resourceGroup: ss.resourceGroup.toLowerCase(),
        subscriptionId,
        sku: wire.sku,
        properties: wire.properties,
        tags: wire.tags,
        identity: null,
        zones: wire.zones ?? null,
        extendedLocation: null,
      });
    } else if (ss.orchestrationMode === "Uniform") {
      // Flexible-mode VMs are Microsoft.Compute/virtualMachines in `resources`, not here.
      for (const instance of ss.instances) {
        const wire = vmJson(fleet, ss, instance, false);
        rows.push({
          ...common,
          id: wire.id,
          name: wire.name,
          type: tables.computeresources,
          location: wire.location,
          resourceGroup: ss.resourceGroup.toLowerCase(),
          subscriptionId,
          sku: wire.sku,
          properties: wire.properties,
          tags: wire.tags,
          identity: null,
          zones: wire.zones ?? null,
          extendedLocation: null,
        });
      }
    }
  }
  return rows;
}

/** The skip token names the offset and the query it belongs to, so another query's token is refused. */
function skipToken(offset: number, fingerprint: string): string {
  return Buffer.from(JSON.stringify({ o: offset, q: fingerprint })).toString("base64url");
}

function readSkipToken(token: string, fingerprint: string): number {
  try {
    const parsed = JSON.parse(Buffer.from(token, "base64url").toString()) as { o?: unknown; q?: unknown };
    if (
      typeof parsed.o === "number" &&
      Number.isInteger(parsed.o) &&
      parsed.o >= 0 &&
      parsed.q === fingerprint
    )
      return parsed.o;
  } catch {
    // Falls through to the refusal below.
  }
  throw new ArmError(400, "BadRequest", "The $skipToken is invalid or belongs to another query.", {
    details: [{ code: "InvalidSkipToken", message: "Send the $skipToken with the same query and scopes." }],
  });
}

function resources(ctx: SimContext, req: SimRequest): SimResponse {
  const apiVersion = req.url.searchParams.get("api-version");
  if (!apiVersion)
    throw new ArmError(
      400,
      "MissingApiVersionParameter",
      "The api-version query parameter (?api-version=) is required for all requests.",
    );
  if (!API_VERSIONS.has(apiVersion))
    throw new ArmError(
      400,
      "InvalidApiVersionParameter",
      `The api-version '${apiVersion}' is invalid. The supported versions are '${[...API_VERSIONS].join("','")}'.`,
    );
  const parsed = requestSchema.safeParse(req.body);
  if (!parsed.success)
    throw new ArmError(400, "BadRequest", "The request content was invalid.", {
      details: parsed.error.issues.map((issue) => ({
        code: "InvalidRequestContent",
        message: `${issue.path.join(".") || "(root)"}: ${issue.message}`,
      })),
    });
  const body = parsed.data;
  if (body.managementGroups?.length)
    throw invalidQuery("management group scopes are not simulated; name subscriptions");
  const recognised = recogniseQuery(body.query);

  const quota = ctx.resourceGraph.quota.take();
  if (!quota.allowed)
    throw new ArmError(
      429,
      "RateLimiting",
      "Please provide below info when asking for support: timestamp, correlationId. The user quota of Resource Graph queries is exhausted.",
      {
        headers: quota.headers,
        details: [{ code: "RateLimiting", message: "Client application has been throttled." }],
      },
    );

  const subscriptions = body.subscriptions?.map((s) => s.toLowerCase());
  const rows = tableRows(ctx, recognised.table)
    .filter((row) => !subscriptions || subscriptions.includes(String(row.subscriptionId).toLowerCase()))
    .filter(
      (row) =>
        !recognised.resourceGroups ||
        recognised.resourceGroups.includes(String(row.resourceGroup).toLowerCase()),
    )
    .sort((a, b) => (String(a.id) < String(b.id) ? -1 : String(a.id) > String(b.id) ? 1 : 0))
    .map((row) => Object.fromEntries(recognised.project.map((column) => [column, row[column] ?? null])));

  const fingerprint = createHash("sha256")
    .update(`${body.query}\n${(subscriptions ?? []).join(",")}`)
    .digest("base64url")
    .slice(0, 16);
  const options = body.options ?? {};
  const pageSize = Math.min(options.$top ?? DEFAULT_TOP, MAX_TOP, ctx.resourceGraph.pageSize);
  const offset = options.$skipToken ? readSkipToken(options.$skipToken, fingerprint) : (options.$skip ?? 0);
  const page = rows.slice(offset, offset + pageSize);
  const more = offset + page.length < rows.length;
  const data =
    options.resultFormat === "table"
      ? {
          columns: recognised.project.map((name) => ({ name, type: columns[name] })),
          rows: page.map((row) => recognised.project.map((name) => row[name])),
        }
      : page;
  return {
    status: 200,
    headers: quota.headers,
    body: {
      totalRecords: rows.length,
      count: page.length,
      data,
      facets: [],
      resultTruncated: "false",
      ...(more ? { $skipToken: skipToken(offset + page.length, fingerprint) } : {}),
    },
  };
}

export const resourceGraphRoutes: Route[] = [
  route("POST", "^/providers/microsoft\\.resourcegraph/resources$", "resourceGraph.resources", resources),
];
