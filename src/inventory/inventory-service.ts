/**
 * GET /v1/inventory behind the API: reads the scopes from Azure, from the source `inventory.source`
 * (or the request) names. Resource Manager: each scope on its own (scopes in parallel, instance
 * lists in parallel, both capped by `inventory.concurrency`). Resource Graph: every scope in one
 * read (src/inventory/resource-graph-reader.ts). Gallery versions come from Resource Manager for
 * both. Each read is kept for `inventory.cacheSeconds` in this process, and shapes the answer (src/domain/inventory.ts) with
 * the rollouts canaryd holds and the approved-version catalog, both read fresh on every request.
 * Reads only: nothing here writes to Azure or to Redis. A crash loses only the cache.
 */

import type { ScaleSetModel } from "../azure/compute.ts";
import { AzureAdapterError } from "../azure/errors.ts";
import type { Config } from "../config/schema.ts";
import type { InstanceFacts } from "../domain/fleet.ts";
import { parseGalleryImageVersionId } from "../domain/image-reference.ts";
import {
  buildInventory,
  type Inventory,
  type InventoryScaleSetModel,
  type InventorySource,
  type InventoryVersionFacts,
  imageKey,
} from "../domain/inventory.ts";
import { terminalPhases } from "../domain/rollout-view.ts";
import { matchesAnyGlob } from "../effects/allow-latest.ts";
import type { RolloutService } from "../engine/service/rollout-service.ts";
import { CanarydError } from "../engine/service/rollout-service.ts";
import type { InventoryReader, InventoryScope } from "./arm-reader.ts";
import type { ResourceGraphInventoryReader } from "./resource-graph-reader.ts";

/** The approved-version catalog as the inventory and preflight see it. */
export interface ApprovedVersions {
  /** Image keys (lower-cased version ids) approved now; undefined when the catalog is empty. */
  approvedKeys(): Promise<ReadonlySet<string> | undefined>;
}

/** One read from Azure: one scope (Resource Manager) or every scope of a request (Resource Graph). */
export interface ScopeRead {
  scopes: InventoryScope[];
  readAt: string;
  scaleSets: { model: ScaleSetModel; instances: InstanceFacts[] }[];
  versions: Record<string, InventoryVersionFacts>;
  /** HTTP calls this read made to Resource Manager (pages included; gallery version reads). */
  armCalls: number;
  /** HTTP calls this read made to Resource Graph (pages and quota retries included). */
  resourceGraphCalls: number;
}

export interface InventoryAnswer extends Inventory {
  scopes: {
    subscriptionId: string;
    resourceGroup?: string;
    readAt: string;
    cached: boolean;
    /** Resource Manager source only: the calls of this scope's read (0 from the cache). */
    armCalls?: number;
  }[];
  /** HTTP calls made to Azure to answer this request (0 when every read came from the cache). */
  calls: { resourceManager: number; resourceGraph: number };
}

export const noInventoryScope = () =>
  new CanarydError(
    "INVENTORY_SCOPE_MISSING",
    400,
    "name a scope (?subscriptionId=…[&resourceGroup=…]) or configure inventory.scopes",
  );

export const inventorySourceUnavailable = () =>
  new CanarydError(
    "INVENTORY_SOURCE_UNAVAILABLE",
    503,
    "this daemon has no Resource Graph reader: inventory.source resourceGraph is not wired",
  );

export interface InventoryServiceDeps {
  /** Resource Manager: the scale-set and instance listings, and the gallery version reads of both sources. */
  reader: InventoryReader;
  /** Azure Resource Graph (inventory.source: resourceGraph). */
  resourceGraph?: ResourceGraphInventoryReader;
  rollouts: Pick<RolloutService, "list">;
  approvals?: ApprovedVersions;
  config: Pick<Config, "inventory" | "policy">;
  now: () => Date;
}

/** Runs `work` over `items` with at most `limit` at once; results in the items' order. */
export async function mapWithLimit<T, R>(
  items: T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  });
  await Promise.all(runners);
  return results;
}

export class InventoryService {
  readonly deps: InventoryServiceDeps;
  private readonly cache = new Map<string, { at: number; read: Promise<ScopeRead> }>();

  constructor(deps: InventoryServiceDeps) {
    this.deps = deps;
  }

  async inventory(request: {
    scope?: InventoryScope;
    refresh?: boolean;
    source?: InventorySource;
  }): Promise<InventoryAnswer> {
    const { config } = this.deps;
    const source = request.source ?? config.inventory.source;
    const scopes = request.scope ? [request.scope] : config.inventory.scopes;
    if (scopes.length === 0) throw noInventoryScope();
    const refresh = request.refresh ?? false;
    let reads: { read: ScopeRead; cached: boolean }[];
    if (source === "resourceGraph") {
      const graph = this.deps.resourceGraph;
      if (!graph) throw inventorySourceUnavailable();
      // One read for every scope: Resource Graph covers many subscriptions in one query.
      const key = `resourceGraph|${scopes.map(scopeKey).sort().join(",")}`;
      reads = [await this.cachedRead(key, refresh, () => this.readGraph(graph, scopes))];
    } else {
      reads = await mapWithLimit(scopes, config.inventory.concurrency, (scope) =>
        this.cachedRead(`arm|${scopeKey(scope)}`, refresh, () => this.readArmScope(scope)),
      );
    }
    const approved = await this.deps.approvals?.approvedKeys();
    const seen = new Set<string>();
    const scaleSets = reads
      .flatMap(({ read }) => read.scaleSets)
      .filter(({ model }) => !seen.has(model.id.toLowerCase()) && seen.add(model.id.toLowerCase()));
    const joined = await mapWithLimit(scaleSets, 16, async (read) => ({
      ...read,
      ...(await this.rolloutsOf(read.model.id)),
    }));
    const { requireApproval } = config.policy;
    const inventory = buildInventory({
      now: this.deps.now(),
      source,
      scaleSets: joined,
      versions: Object.assign({}, ...reads.map(({ read }) => read.versions)),
      ...(approved ? { approved } : {}),
      requiresApproval: (model) => requiresApproval(requireApproval, model),
      eolWarningDays: config.policy.eolWarningDays,
    });
    const fresh = reads.filter(({ cached }) => !cached).map(({ read }) => read);
    return {
      ...inventory,
      scopes: reads.flatMap(({ read, cached }) =>
        read.scopes.map((scope) => ({
          ...scope,
          readAt: read.readAt,
          cached,
          ...(source === "arm" ? { armCalls: cached ? 0 : read.armCalls } : {}),
        })),
      ),
      calls: {
        resourceManager: fresh.reduce((sum, read) => sum + read.armCalls, 0),
        resourceGraph: fresh.reduce((sum, read) => sum + read.resourceGraphCalls, 0),
      },
    };
  }

  /** A read kept for `inventory.cacheSeconds` under `key`; a failed read is not kept. */
  private async cachedRead(
    key: string,
    refresh: boolean,
    read: () => Promise<ScopeRead>,
  ): Promise<{ read: ScopeRead; cached: boolean }> {
    const ttlMs = this.deps.config.inventory.cacheSeconds * 1000;
    const hit = this.cache.get(key);
    if (!refresh && hit && Date.now() - hit.at < ttlMs) {
      try {
        return { read: await hit.read, cached: true };
      } catch {
        // A failed read is not cached: read again below.
      }
    }
    const reading = read();
    this.cache.set(key, { at: Date.now(), read: reading });
    try {
      return { read: await reading, cached: false };
    } catch (error) {
      if (this.cache.get(key)?.read === reading) this.cache.delete(key);
      throw error;
    }
  }

  private async readArmScope(scope: InventoryScope): Promise<ScopeRead> {
    const { reader, config } = this.deps;
    const before = reader.armCalls();
    const models = await reader.listScaleSets(scope);
    const scaleSets = await mapWithLimit(models, config.inventory.concurrency, async (model) => ({
      model,
      instances: await reader.listInstances(model.id),
    }));
    const versions = await this.readVersions(scaleSets);
    return {
      scopes: [scope],
      readAt: this.deps.now().toISOString(),
      scaleSets,
      versions,
      armCalls: reader.armCalls() - before,
      resourceGraphCalls: 0,
    };
  }

  private async readGraph(graph: ResourceGraphInventoryReader, scopes: InventoryScope[]): Promise<ScopeRead> {
    const armBefore = this.deps.reader.armCalls();
    const graphBefore = graph.calls();
    let fleet: Awaited<ReturnType<ResourceGraphInventoryReader["readFleet"]>>;
    try {
      fleet = await graph.readFleet(scopes);
    } catch (error) {
      throw graphError(error);
    }
    const versions = await this.readVersions(fleet.scaleSets);
    return {
      scopes,
      readAt: this.deps.now().toISOString(),
      scaleSets: fleet.scaleSets,
      versions,
      armCalls: this.deps.reader.armCalls() - armBefore,
      resourceGraphCalls: graph.calls() - graphBefore,
    };
  }

  /** The gallery versions the models and instances name, read from Resource Manager (both sources). */
  private async readVersions(
    scaleSets: { model: ScaleSetModel; instances: InstanceFacts[] }[],
  ): Promise<Record<string, InventoryVersionFacts>> {
    const galleryIds = new Map<string, string>();
    for (const { model, instances } of scaleSets)
      for (const ref of [model.imageReference, ...instances.map((i) => i.imageReference)]) {
        const key = ref ? imageKey(ref) : undefined;
        if (key && parseGalleryImageVersionId(key.display)) galleryIds.set(key.key, key.display);
      }
    const facts = await mapWithLimit([...galleryIds.values()], this.deps.config.inventory.concurrency, (id) =>
      this.deps.reader.readImageVersion(id),
    );
    const versions: Record<string, InventoryVersionFacts> = {};
    for (const f of facts) {
      versions[f.id.toLowerCase()] = {
        exists: f.exists,
        excludeFromLatest: f.excludeFromLatest,
        ...(f.publishedDate ? { publishedDate: f.publishedDate } : {}),
        ...(f.endOfLifeDate ? { endOfLifeDate: f.endOfLifeDate } : {}),
      };
    }
    return versions;
  }

  /** The rollout holding the scale set now, and the newest one that ended. */
  private async rolloutsOf(scaleSetId: string) {
    const page = await this.deps.rollouts.list({ scaleSetId, limit: 10 });
    const active = page.items.find((r) => !terminalPhases.has(r.phase));
    const last = page.items.find((r) => terminalPhases.has(r.phase));
    return {
      ...(active ? { activeRollout: active.id } : {}),
      ...(last ? { lastRollout: { id: last.id, phase: last.phase, endedAt: last.updatedAt } } : {}),
    };
  }
}

const scopeKey = (scope: InventoryScope) =>
  `${scope.subscriptionId}/${scope.resourceGroup ?? ""}`.toLowerCase();

/** Resource Graph's refusals as problems a caller can act on; anything else passes through. */
function graphError(error: unknown): unknown {
  if (!(error instanceof AzureAdapterError)) return error;
  if (error.code === "RESOURCE_GRAPH_QUOTA_EXHAUSTED")
    return new CanarydError("INVENTORY_QUOTA_EXHAUSTED", 503, error.message, {
      ...(error.retryAfterMs === undefined
        ? {}
        : { retryAfterSeconds: Math.ceil(error.retryAfterMs / 1000) }),
    });
  if (error.code === "INVENTORY_SCOPE_INVALID") return new CanarydError(error.code, 400, error.message);
  return error;
}

/** policy.requireApproval: an id glob matches, or every configured tag has the configured value. */
export function requiresApproval(
  policy: Config["policy"]["requireApproval"],
  model: Pick<InventoryScaleSetModel, "id" | "tags">,
): boolean {
  if (matchesAnyGlob(model.id, policy.scaleSets)) return true;
  const tags = Object.entries(policy.tags);
  return tags.length > 0 && tags.every(([name, value]) => model.tags?.[name] === value);
}
