/**
 * GET /v1/inventory behind the API: reads each scope from Azure (scopes in parallel, instance
 * lists in parallel, both capped by `inventory.concurrency`), keeps each scope's read for
 * `inventory.cacheSeconds` in this process, and shapes the answer (src/domain/inventory.ts) with
 * the rollouts canaryd holds and the approved-version catalog, both read fresh on every request.
 * Reads only: nothing here writes to Azure or to Redis. A crash loses only the cache.
 */

import type { ScaleSetModel } from "../azure/compute.ts";
import type { Config } from "../config/schema.ts";
import type { InstanceFacts } from "../domain/fleet.ts";
import { parseGalleryImageVersionId } from "../domain/image-reference.ts";
import {
  buildInventory,
  type Inventory,
  type InventoryScaleSetModel,
  type InventoryVersionFacts,
  imageKey,
} from "../domain/inventory.ts";
import { terminalPhases } from "../domain/rollout-view.ts";
import { matchesAnyGlob } from "../engine/effects/allow-latest.ts";
import type { RolloutService } from "../engine/rollout-service.ts";
import { CanarydError } from "../engine/rollout-service.ts";
import type { InventoryReader, InventoryScope } from "./arm-reader.ts";

/** The approved-version catalog as the inventory and preflight see it. */
export interface ApprovedVersions {
  /** Image keys (lower-cased version ids) approved now; undefined when the catalog is empty. */
  approvedKeys(): Promise<ReadonlySet<string> | undefined>;
}

export interface ScopeRead {
  scope: InventoryScope;
  readAt: string;
  scaleSets: { model: ScaleSetModel; instances: InstanceFacts[] }[];
  versions: Record<string, InventoryVersionFacts>;
  /** HTTP calls this read made to Azure (pages included). */
  armCalls: number;
}

export interface InventoryAnswer extends Inventory {
  scopes: {
    subscriptionId: string;
    resourceGroup?: string;
    readAt: string;
    cached: boolean;
    armCalls: number;
  }[];
}

export const noInventoryScope = () =>
  new CanarydError(
    "INVENTORY_SCOPE_MISSING",
    400,
    "name a scope (?subscriptionId=…[&resourceGroup=…]) or configure inventory.scopes",
  );

export interface InventoryServiceDeps {
  reader: InventoryReader;
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

  async inventory(request: { scope?: InventoryScope; refresh?: boolean }): Promise<InventoryAnswer> {
    const { config } = this.deps;
    const scopes = request.scope ? [request.scope] : config.inventory.scopes;
    if (scopes.length === 0) throw noInventoryScope();
    const reads = await mapWithLimit(scopes, config.inventory.concurrency, (scope) =>
      this.scopeRead(scope, request.refresh ?? false),
    );
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
      source: "arm",
      scaleSets: joined,
      versions: Object.assign({}, ...reads.map(({ read }) => read.versions)),
      ...(approved ? { approved } : {}),
      requiresApproval: (model) => requiresApproval(requireApproval, model),
      eolWarningDays: config.policy.eolWarningDays,
    });
    return {
      ...inventory,
      scopes: reads.map(({ read, cached }) => ({
        ...read.scope,
        readAt: read.readAt,
        cached,
        armCalls: cached ? 0 : read.armCalls,
      })),
    };
  }

  private async scopeRead(
    scope: InventoryScope,
    refresh: boolean,
  ): Promise<{ read: ScopeRead; cached: boolean }> {
    const key = `${scope.subscriptionId}/${scope.resourceGroup ?? ""}`.toLowerCase();
    const ttlMs = this.deps.config.inventory.cacheSeconds * 1000;
    const hit = this.cache.get(key);
    if (!refresh && hit && Date.now() - hit.at < ttlMs) {
      try {
        return { read: await hit.read, cached: true };
      } catch {
        // A failed read is not cached: read again below.
      }
    }
    const read = this.readScope(scope);
    this.cache.set(key, { at: Date.now(), read });
    try {
      return { read: await read, cached: false };
    } catch (error) {
      if (this.cache.get(key)?.read === read) this.cache.delete(key);
      throw error;
    }
  }

  private async readScope(scope: InventoryScope): Promise<ScopeRead> {
    const { reader, config } = this.deps;
    const before = reader.armCalls();
    const models = await reader.listScaleSets(scope);
    const scaleSets = await mapWithLimit(models, config.inventory.concurrency, async (model) => ({
      model,
      instances: await reader.listInstances(model.id),
    }));
    const galleryIds = new Map<string, string>();
    for (const { model, instances } of scaleSets)
      for (const ref of [model.imageReference, ...instances.map((i) => i.imageReference)]) {
        const key = ref ? imageKey(ref) : undefined;
        if (key && parseGalleryImageVersionId(key.display)) galleryIds.set(key.key, key.display);
      }
    const facts = await mapWithLimit([...galleryIds.values()], config.inventory.concurrency, (id) =>
      reader.readImageVersion(id),
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
    return {
      scope,
      readAt: this.deps.now().toISOString(),
      scaleSets,
      versions,
      armCalls: reader.armCalls() - before,
    };
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

/** policy.requireApproval: an id glob matches, or every configured tag has the configured value. */
export function requiresApproval(
  policy: Config["policy"]["requireApproval"],
  model: Pick<InventoryScaleSetModel, "id" | "tags">,
): boolean {
  if (matchesAnyGlob(model.id, policy.scaleSets)) return true;
  const tags = Object.entries(policy.tags);
  return tags.length > 0 && tags.every(([name, value]) => model.tags?.[name] === value);
}
