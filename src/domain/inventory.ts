/**
 * The fleet inventory's answer: which image version runs where, and what is wrong with it. A pure
 * function of what was read (scale set models, their instances, the gallery versions they run),
 * the rollouts canaryd holds for each scale set, the approved-version catalog and the policy: no
 * I/O and no clock of its own (`now` is given), so the same reads give the same answer.
 */
import type { InstanceFacts } from "./fleet.ts";
import type { ImageReference } from "./image.ts";
import { effectiveVersion, parseGalleryImageVersionId, referencesLatest } from "./image-reference.ts";

/** Where an inventory was read from (`inventory.source`): Resource Manager listings or Azure Resource Graph. */
export const inventorySources = ["arm", "resourceGraph"] as const;
export type InventorySource = (typeof inventorySources)[number];

/** What the inventory needs of a scale set's model (ARM's read satisfies it). */
export interface InventoryScaleSetModel {
  id: string;
  name: string;
  location: string;
  upgradePolicyMode: string;
  imageReference?: ImageReference;
  tags?: Record<string, string>;
}

export interface InventoryVersionFacts {
  exists: boolean;
  publishedDate?: string;
  endOfLifeDate?: string;
  excludeFromLatest: boolean;
}

export interface InventoryInput {
  now: Date;
  source: InventorySource;
  scaleSets: {
    model: InventoryScaleSetModel;
    instances: InstanceFacts[];
    activeRollout?: string;
    lastRollout?: { id: string; phase: string; endedAt: string };
  }[];
  /** Gallery versions by image key (see imageKey), as read. */
  versions: Record<string, InventoryVersionFacts>;
  /** Image keys of approved versions; undefined when there is no catalog yet. */
  approved?: ReadonlySet<string>;
  requiresApproval: (model: InventoryScaleSetModel) => boolean;
  eolWarningDays: number;
}

export interface InventoryFinding {
  severity: "warning" | "error";
  code:
    | "unpinnedModel"
    | "instancesNotOnLatestModel"
    | "imageEndOfLife"
    | "imageEndOfLifeSoon"
    | "unapprovedInProduction";
  scaleSetId?: string;
  imageVersionId?: string;
  message: string;
}

export interface InventoryScaleSet {
  id: string;
  name: string;
  location: string;
  upgradePolicy: string;
  tags: Record<string, string>;
  model: { imageReference: ImageReference; version?: string; pinned: boolean };
  instances: {
    total: number;
    byVersion: Record<string, number>;
    notOnLatestModel: number;
    notOnLatestModelIds: string[];
  };
  activeRollout?: string;
  lastRollout?: { id: string; phase: string; endedAt: string };
}

export interface InventoryImage {
  /** The gallery image version id, or `publisher:offer:sku:version` for a marketplace image. */
  imageVersionId: string;
  version: string;
  scaleSets: number;
  instances: number;
  publishedDate?: string;
  endOfLifeDate?: string;
  excludeFromLatest?: boolean;
  /** Absent when there is no approved-version catalog. */
  approved?: boolean;
  retiresInDays?: number;
}

export interface Inventory {
  generatedAt: string;
  source: InventorySource;
  scaleSets: InventoryScaleSet[];
  images: InventoryImage[];
  findings: InventoryFinding[];
}

const dayMs = 86_400_000;
const unreported = "unreported";

/**
 * The identity of the exact image an instance or model runs: a gallery version id (a definition
 * with ARM's `exactVersion` filled in), or a marketplace URN. Lower-cased for comparison
 * (ARM ids are case-insensitive); `display` keeps the case ARM gave.
 */
export function imageKey(ref: ImageReference): { key: string; display: string; version: string } | undefined {
  const version = effectiveVersion(ref);
  if (ref.id) {
    const display = parseGalleryImageVersionId(ref.id)
      ? ref.id
      : version
        ? `${ref.id.replace(/\/versions\/latest$/i, "")}/versions/${version}`
        : undefined;
    if (!display || !version) return undefined;
    return { key: display.toLowerCase(), display, version };
  }
  if (ref.publisher && ref.offer && ref.sku && version) {
    const display = `${ref.publisher}:${ref.offer}:${ref.sku}:${version}`;
    return { key: display.toLowerCase(), display, version };
  }
  return undefined;
}

export function retiresInDays(endOfLifeDate: string | undefined, now: Date): number | undefined {
  if (!endOfLifeDate) return undefined;
  return Math.floor((Date.parse(endOfLifeDate) - now.getTime()) / dayMs);
}

export function buildInventory(input: InventoryInput): Inventory {
  const findings: InventoryFinding[] = [];
  const images = new Map<string, InventoryImage & { scaleSetIds: Set<string> }>();
  const scaleSets: InventoryScaleSet[] = [];

  for (const read of input.scaleSets) {
    const { model } = read;
    const imageReference = model.imageReference ?? {};
    const pinned = model.imageReference !== undefined && !referencesLatest(imageReference);
    const modelVersion = effectiveVersion(imageReference);
    const byVersion: Record<string, number> = {};
    const drifted: string[] = [];
    const versionsRun = new Map<string, string>();
    for (const instance of read.instances) {
      const key = instance.imageReference ? imageKey(instance.imageReference) : undefined;
      const version = key?.version ?? unreported;
      byVersion[version] = (byVersion[version] ?? 0) + 1;
      if (!instance.latestModelApplied) drifted.push(instance.instanceId);
      if (!key) continue;
      versionsRun.set(key.key, key.display);
      const image = images.get(key.key) ?? newImage(key.display, key.version, input);
      image.instances += 1;
      image.scaleSetIds.add(model.id.toLowerCase());
      images.set(key.key, image);
    }
    scaleSets.push({
      id: model.id,
      name: model.name,
      location: model.location,
      upgradePolicy: model.upgradePolicyMode,
      tags: model.tags ?? {},
      model: { imageReference, ...(pinned && modelVersion ? { version: modelVersion } : {}), pinned },
      instances: {
        total: read.instances.length,
        byVersion,
        notOnLatestModel: drifted.length,
        notOnLatestModelIds: drifted,
      },
      ...(read.activeRollout ? { activeRollout: read.activeRollout } : {}),
      ...(read.lastRollout ? { lastRollout: read.lastRollout } : {}),
    });

    if (!pinned)
      findings.push({
        severity: "warning",
        code: "unpinnedModel",
        scaleSetId: model.id,
        message: `scale set ${model.name}'s model names ${model.imageReference ? "an image definition or latest" : "no image"}, not an exact version: new instances silently pick up whatever is newest; pin it`,
      });
    if (drifted.length > 0)
      findings.push({
        severity: "warning",
        code: "instancesNotOnLatestModel",
        scaleSetId: model.id,
        message: `scale set ${model.name}: ${drifted.length} of ${read.instances.length} instance(s) do not run the latest model (${drifted.join(", ")})`,
      });
    if (input.approved && input.requiresApproval(model)) {
      const unapproved = [...versionsRun].filter(([key]) => !input.approved?.has(key)).map(([, id]) => id);
      const modelKey = pinned ? imageKey(imageReference) : undefined;
      if (modelKey && !input.approved.has(modelKey.key) && !unapproved.includes(modelKey.display))
        unapproved.push(modelKey.display);
      for (const id of unapproved)
        findings.push({
          severity: "warning",
          code: "unapprovedInProduction",
          scaleSetId: model.id,
          imageVersionId: id,
          message: `scale set ${model.name} requires approved versions and runs or names ${id}, which is not approved`,
        });
    }
  }

  const imageList = [...images.values()]
    .map(({ scaleSetIds, ...image }) => ({ ...image, scaleSets: scaleSetIds.size }))
    .sort((a, b) => a.imageVersionId.localeCompare(b.imageVersionId));
  for (const image of imageList) {
    if (image.retiresInDays === undefined) continue;
    if (image.retiresInDays < 0 || Date.parse(image.endOfLifeDate ?? "") <= input.now.getTime())
      findings.push({
        severity: "error",
        code: "imageEndOfLife",
        imageVersionId: image.imageVersionId,
        message: `${image.imageVersionId} reached its end of life ${image.endOfLifeDate} and still runs on ${image.instances} instance(s) of ${image.scaleSets} scale set(s)`,
      });
    else if (image.retiresInDays <= input.eolWarningDays)
      findings.push({
        severity: "warning",
        code: "imageEndOfLifeSoon",
        imageVersionId: image.imageVersionId,
        message: `${image.imageVersionId} reaches its end of life ${image.endOfLifeDate} in ${image.retiresInDays} day(s) (policy.eolWarningDays ${input.eolWarningDays}); ${image.instances} instance(s) run it`,
      });
  }
  return {
    generatedAt: input.now.toISOString(),
    source: input.source,
    scaleSets,
    images: imageList,
    findings,
  };
}

function newImage(
  display: string,
  version: string,
  input: InventoryInput,
): InventoryImage & { scaleSetIds: Set<string> } {
  const facts = input.versions[display.toLowerCase()];
  const retires = retiresInDays(facts?.endOfLifeDate, input.now);
  return {
    imageVersionId: display,
    version,
    scaleSets: 0,
    instances: 0,
    scaleSetIds: new Set(),
    ...(facts?.publishedDate ? { publishedDate: facts.publishedDate } : {}),
    ...(facts?.endOfLifeDate ? { endOfLifeDate: facts.endOfLifeDate } : {}),
    ...(facts ? { excludeFromLatest: facts.excludeFromLatest } : {}),
    ...(input.approved ? { approved: input.approved.has(display.toLowerCase()) } : {}),
    ...(retires !== undefined ? { retiresInDays: retires } : {}),
  };
}
