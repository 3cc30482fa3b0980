/**
 * Reads a fleet for the inventory from Azure Resource Graph (`inventory.source: resourceGraph`)
 * through the real `@azure/arm-resourcegraph` client: two fixed queries (scale sets from the
 * `resources` table, Uniform instances from `computeresources`), each over up to
 * `subscriptionsPerQuery` subscriptions at once, ordered by id and paged with `$skipToken`.
 * Produces the same shape as the Resource Manager reader (ScaleSetModel + InstanceFacts), so the
 * inventory is built the same way from either source.
 *
 * Quota: every answer carries `x-ms-user-quota-remaining` and `x-ms-user-quota-resets-after`.
 * When the quota is spent (remaining 0, or a 429), the reader waits until it resets if that is at
 * most `maxQuotaWaitSeconds` away, else fails with `RESOURCE_GRAPH_QUOTA_EXHAUSTED`.
 * Reads only; holds no state but the last quota seen. Every HTTP attempt is counted (`calls`).
 */
import type { VirtualMachineScaleSet, VirtualMachineScaleSetVM } from "@azure/arm-compute";
import type { QueryResponse } from "@azure/arm-resourcegraph";
import { type AzureCallHook, createAzureClients } from "../azure/clients.ts";
import { type ScaleSetModel, toInstanceFacts, toScaleSetModel } from "../azure/compute.ts";
import type { AzureAccess } from "../azure/credentials.ts";
import { AzureAdapterError, statusOf, wrapAzureError } from "../azure/errors.ts";
import type { InstanceFacts } from "../domain/fleet.ts";
import type { InventoryScope } from "./arm-reader.ts";

/** What one read of several scopes found: every scale set with its instances. */
export interface FleetRead {
  scaleSets: { model: ScaleSetModel; instances: InstanceFacts[] }[];
}

export interface ResourceGraphInventoryReader {
  readFleet(scopes: InventoryScope[], signal?: AbortSignal): Promise<FleetRead>;
  /** HTTP calls made to Resource Graph so far (every page and every retry counts). */
  calls(): number;
}

export interface ResourceGraphReaderOptions {
  onAzureCall?: AzureCallHook;
  /** Longest wait for a spent quota to reset before failing (inventory.resourceGraph.maxQuotaWaitSeconds). */
  maxQuotaWaitSeconds: number;
  /** Subscriptions named in one query; more are split into batches. */
  subscriptionsPerQuery?: number;
  /** Rows asked for per page (`$top`; Resource Graph answers at most 1000). */
  pageSize?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

/** Resource Graph answers at most 1000 rows a page. */
export const RESOURCE_GRAPH_MAX_PAGE = 1000;
/** canaryd's batch: one query names at most this many subscriptions. */
export const SUBSCRIPTIONS_PER_QUERY = 1000;
/** A spent quota is waited out at most this many times for one page before giving up. */
const QUOTA_RETRIES = 3;

const scaleSetType = "microsoft.compute/virtualmachinescalesets";
const instanceType = "microsoft.compute/virtualmachinescalesets/virtualmachines";

/**
 * The queries canaryd sends, exactly (the simulator recognises this text and nothing else; see
 * docs/simulator.md). `order by id asc` keeps paging stable; no `take`/`limit`, which would turn
 * `$skipToken` paging off. A resource-group scope adds one `where resourceGroup in~ (…)` line.
 */
export function scaleSetsQuery(resourceGroups?: string[]): string {
  return [
    "resources",
    `| where type =~ '${scaleSetType}'`,
    ...resourceGroupFilter(resourceGroups),
    "| project id, name, type, location, resourceGroup, subscriptionId, tags, sku, zones, properties",
    "| order by id asc",
  ].join("\n");
}

export function instancesQuery(resourceGroups?: string[]): string {
  return [
    "computeresources",
    `| where type =~ '${instanceType}'`,
    ...resourceGroupFilter(resourceGroups),
    "| project id, name, type, location, resourceGroup, subscriptionId, zones, properties",
    "| order by id asc",
  ].join("\n");
}

const resourceGroupName = /^[-\w._()]{1,90}$/;

function resourceGroupFilter(resourceGroups: string[] | undefined): string[] {
  if (!resourceGroups || resourceGroups.length === 0) return [];
  for (const name of resourceGroups)
    if (!resourceGroupName.test(name))
      throw new AzureAdapterError(
        "INVENTORY_SCOPE_INVALID",
        `resource group ${JSON.stringify(name)} is not a resource group name (letters, digits, -_.() only)`,
      );
  return [`| where resourceGroup in~ (${resourceGroups.map((rg) => `'${rg}'`).join(", ")})`];
}

/** One query to run: its text and the subscriptions it covers. */
export interface PlannedQuery {
  kind: "scaleSets" | "instances";
  query: string;
  subscriptions: string[];
}

/**
 * The queries for a set of scopes: whole subscriptions in batches of `perQuery`; resource-group
 * scopes one pair per subscription (its groups in one filter). A resource group of a subscription
 * that is also read whole is covered by the whole read.
 */
export function planQueries(scopes: InventoryScope[], perQuery = SUBSCRIPTIONS_PER_QUERY): PlannedQuery[] {
  const whole = [
    ...new Set(scopes.filter((s) => !s.resourceGroup).map((s) => s.subscriptionId.toLowerCase())),
  ];
  const groups = new Map<string, Set<string>>();
  for (const scope of scopes) {
    const sub = scope.subscriptionId.toLowerCase();
    if (!scope.resourceGroup || whole.includes(sub)) continue;
    const set = groups.get(sub) ?? new Set<string>();
    set.add(scope.resourceGroup);
    groups.set(sub, set);
  }
  const planned: PlannedQuery[] = [];
  for (let start = 0; start < whole.length; start += perQuery) {
    const subscriptions = whole.slice(start, start + perQuery);
    planned.push({ kind: "scaleSets", query: scaleSetsQuery(), subscriptions });
    planned.push({ kind: "instances", query: instancesQuery(), subscriptions });
  }
  for (const [sub, rgs] of groups) {
    const names = [...rgs].sort();
    planned.push({ kind: "scaleSets", query: scaleSetsQuery(names), subscriptions: [sub] });
    planned.push({ kind: "instances", query: instancesQuery(names), subscriptions: [sub] });
  }
  return planned;
}

/** `hh:mm:ss` (Resource Graph's `x-ms-user-quota-resets-after`) in milliseconds. */
export function parseResetsAfter(value: string | null | undefined): number | undefined {
  const match = value ? /^(\d+):(\d{2}):(\d{2})(\.\d+)?$/.exec(value.trim()) : null;
  if (!match) return undefined;
  const [, h, m, s, fraction] = match;
  return ((Number(h) * 60 + Number(m)) * 60 + Number(s) + Number(fraction ?? 0)) * 1000;
}

interface HeaderSource {
  get(name: string): string | undefined;
}

/** A scale-set row of the `resources` table: the resource's ARM wire JSON (properties not flattened). */
interface ScaleSetRow {
  id?: string;
  name?: string;
  location?: string;
  tags?: Record<string, string> | null;
  sku?: VirtualMachineScaleSet["sku"] | null;
  zones?: string[] | null;
  properties?: {
    orchestrationMode?: string;
    upgradePolicy?: VirtualMachineScaleSet["upgradePolicy"];
    virtualMachineProfile?: VirtualMachineScaleSet["virtualMachineProfile"];
    provisioningState?: string;
  } | null;
}

/** An instance row of `computeresources`: the VM's wire JSON; the instance id ends its resource id. */
interface InstanceRow {
  id?: string;
  name?: string;
  zones?: string[] | null;
  properties?: {
    latestModelApplied?: boolean;
    storageProfile?: VirtualMachineScaleSetVM["storageProfile"];
    protectionPolicy?: VirtualMachineScaleSetVM["protectionPolicy"];
    provisioningState?: string;
  } | null;
}

export function scaleSetFromRow(row: ScaleSetRow): ScaleSetModel {
  if (!row.id || !row.location)
    throw new AzureAdapterError(
      "RESOURCE_GRAPH_RESPONSE_INVALID",
      `a scale set row of Resource Graph lacks ${row.id ? "location" : "id"}`,
    );
  const props = row.properties ?? {};
  const vmss: VirtualMachineScaleSet = {
    location: row.location,
    ...(row.name ? { name: row.name } : {}),
    ...(row.tags ? { tags: row.tags } : {}),
    ...(row.sku ? { sku: row.sku } : {}),
    ...(row.zones ? { zones: row.zones } : {}),
    ...(props.upgradePolicy ? { upgradePolicy: props.upgradePolicy } : {}),
    ...(props.virtualMachineProfile ? { virtualMachineProfile: props.virtualMachineProfile } : {}),
    ...(props.orchestrationMode ? { orchestrationMode: props.orchestrationMode } : {}),
  } as VirtualMachineScaleSet;
  const model = toScaleSetModel(row.id, vmss);
  if (props.provisioningState) model.provisioningState = props.provisioningState;
  return model;
}

/** The scale set id an instance id belongs to (`…/virtualMachineScaleSets/x/virtualMachines/3`). */
function parentOf(instanceId: string): { scaleSetId: string; instanceId: string } | undefined {
  const match = /^(.*\/virtualmachinescalesets\/[^/]+)\/virtualmachines\/([^/]+)$/i.exec(instanceId);
  return match ? { scaleSetId: match[1] as string, instanceId: match[2] as string } : undefined;
}

export function instanceFromRow(row: InstanceRow): { scaleSetId: string; facts: InstanceFacts } {
  const parent = row.id ? parentOf(row.id) : undefined;
  if (!parent)
    throw new AzureAdapterError(
      "RESOURCE_GRAPH_RESPONSE_INVALID",
      `an instance row of Resource Graph has no scale set instance id (${row.id ?? "no id"})`,
    );
  const props = row.properties ?? {};
  const vm: VirtualMachineScaleSetVM = {
    location: "",
    instanceId: parent.instanceId,
    ...(row.name ? { name: row.name } : {}),
    ...(row.zones ? { zones: row.zones } : {}),
    ...(props.latestModelApplied === undefined ? {} : { latestModelApplied: props.latestModelApplied }),
    ...(props.storageProfile ? { storageProfile: props.storageProfile } : {}),
    ...(props.protectionPolicy ? { protectionPolicy: props.protectionPolicy } : {}),
    ...(props.provisioningState ? { provisioningState: props.provisioningState } : {}),
  } as VirtualMachineScaleSetVM;
  return { scaleSetId: parent.scaleSetId, facts: toInstanceFacts(vm) };
}

const numericFirst = (a: InstanceFacts, b: InstanceFacts) => {
  const [x, y] = [Number(a.instanceId), Number(b.instanceId)];
  return Number.isNaN(x) || Number.isNaN(y) ? a.instanceId.localeCompare(b.instanceId) : x - y;
};

export function createResourceGraphInventoryReader(
  access: AzureAccess,
  options: ResourceGraphReaderOptions,
): ResourceGraphInventoryReader {
  let calls = 0;
  const clients = createAzureClients(access, {
    onAzureCall: (call) => {
      calls += 1;
      options.onAzureCall?.(call);
    },
  });
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = options.now ?? Date.now;
  const maxWaitMs = options.maxQuotaWaitSeconds * 1000;
  const top = Math.min(options.pageSize ?? RESOURCE_GRAPH_MAX_PAGE, RESOURCE_GRAPH_MAX_PAGE);
  /** The quota as the last answer stated it. */
  let quota: { remaining: number; resetsAtMs: number } | undefined;

  const noteQuota = (headers: HeaderSource | undefined) => {
    const remaining = Number.parseInt(headers?.get("x-ms-user-quota-remaining") ?? "", 10);
    const resetsAfter = parseResetsAfter(headers?.get("x-ms-user-quota-resets-after"));
    if (Number.isNaN(remaining) || resetsAfter === undefined) return;
    quota = { remaining, resetsAtMs: now() + resetsAfter };
  };

  /** Waits out a spent quota when it resets soon enough; fails with a clear code when not. */
  const awaitQuota = async (what: string) => {
    if (!quota || quota.remaining > 0) return;
    const waitMs = quota.resetsAtMs - now();
    if (waitMs <= 0) return;
    if (waitMs > maxWaitMs)
      throw new AzureAdapterError(
        "RESOURCE_GRAPH_QUOTA_EXHAUSTED",
        `${what}: the Resource Graph quota is spent and resets in ${Math.ceil(waitMs / 1000)} s, longer than inventory.resourceGraph.maxQuotaWaitSeconds (${options.maxQuotaWaitSeconds})`,
        { statusCode: 429, transient: true, retryAfterMs: waitMs },
      );
    await sleep(waitMs);
  };

  async function page(planned: PlannedQuery, skipToken: string | undefined, signal?: AbortSignal) {
    const what = `querying Resource Graph for ${planned.kind} of ${planned.subscriptions.length} subscription(s)`;
    for (let attempt = 0; ; attempt++) {
      await awaitQuota(what);
      try {
        const response: QueryResponse = await clients.resourceGraph().resources(
          {
            query: planned.query,
            subscriptions: planned.subscriptions,
            options: { top, resultFormat: "objectArray", ...(skipToken ? { skipToken } : {}) },
          },
          {
            ...(signal ? { abortSignal: signal } : {}),
            onResponse: (raw) => noteQuota(raw.headers),
          },
        );
        if (!Array.isArray(response.data))
          throw new AzureAdapterError(
            "RESOURCE_GRAPH_RESPONSE_INVALID",
            `${what}: the answer's data is not an object array`,
          );
        return response;
      } catch (error) {
        if (error instanceof AzureAdapterError) throw error;
        if (statusOf(error) === 429 && attempt < QUOTA_RETRIES) {
          noteQuota((error as { response?: { headers: HeaderSource } }).response?.headers);
          // A 429 without quota headers: treat the quota as spent for the longest wait allowed.
          if (!quota || quota.remaining > 0) quota = { remaining: 0, resetsAtMs: now() + maxWaitMs + 1 };
          continue;
        }
        throw wrapAzureError(what, error);
      }
    }
  }

  async function rows(planned: PlannedQuery, signal?: AbortSignal): Promise<unknown[]> {
    const all: unknown[] = [];
    let skipToken: string | undefined;
    do {
      const response = await page(planned, skipToken, signal);
      all.push(...(response.data as unknown[]));
      if (response.skipToken && response.skipToken === skipToken)
        throw new AzureAdapterError(
          "RESOURCE_GRAPH_RESPONSE_INVALID",
          `Resource Graph answered the same $skipToken twice for ${planned.kind}`,
        );
      skipToken = response.skipToken || undefined;
    } while (skipToken);
    return all;
  }

  return {
    async readFleet(scopes, signal) {
      const models = new Map<string, ScaleSetModel>();
      const instances = new Map<string, InstanceFacts[]>();
      for (const planned of planQueries(scopes, options.subscriptionsPerQuery)) {
        for (const row of await rows(planned, signal)) {
          if (planned.kind === "scaleSets") {
            const model = scaleSetFromRow(row as ScaleSetRow);
            models.set(model.id.toLowerCase(), model);
          } else {
            const { scaleSetId, facts } = instanceFromRow(row as InstanceRow);
            const key = scaleSetId.toLowerCase();
            const list = instances.get(key);
            if (list) list.push(facts);
            else instances.set(key, [facts]);
          }
        }
      }
      return {
        scaleSets: [...models].map(([key, model]) => ({
          model,
          instances: (instances.get(key) ?? []).sort(numericFirst),
        })),
      };
    },
    calls: () => calls,
  };
}
