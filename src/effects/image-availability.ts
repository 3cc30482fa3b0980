/**
 * Is the image usable where each scale set lives? A gallery version must exist, not be past its
 * end of life, target the scale set's region and have replicated there; a marketplace version
 * must exist in the region. Every problem becomes a finding naming the scale set and region.
 */
import type { AzureAdapters } from "../azure/adapters.ts";
import type { ImageFacts, PreflightFinding } from "../domain/effects.ts";
import type { ImageReference } from "../domain/image.ts";
import { formatImage, normalizeRegion, parseGalleryImageVersionId } from "../domain/image-reference.ts";

export interface RegionTarget {
  scaleSetId: string;
  subscriptionId: string;
  /** Short region name (`westeurope`). */
  location: string;
}

export interface ImageAvailability {
  findings: PreflightFinding[];
  /** Scale sets whose region is still replicating the version. */
  replicating: RegionTarget[];
  /** The image as read, for the release record; absent when it could not be read at all. */
  facts?: ImageFacts;
}

export async function checkImageAvailability(
  azure: Pick<AzureAdapters, "gallery" | "marketplace">,
  image: ImageReference,
  targets: RegionTarget[],
  now: Date,
  signal?: AbortSignal,
): Promise<ImageAvailability> {
  if (image.id && parseGalleryImageVersionId(image.id))
    return galleryAvailability(azure, image.id, targets, now, signal);
  if (image.publisher && image.offer && image.sku && image.version)
    return marketplaceAvailability(
      azure,
      image as Required<Pick<ImageReference, "publisher" | "offer" | "sku" | "version">>,
      targets,
      now,
      signal,
    );
  return {
    findings: [
      {
        code: "IMAGE_UNSUPPORTED",
        message: `image ${formatImage(image)} is neither a gallery image version nor a marketplace publisher:offer:sku:version`,
      },
    ],
    replicating: [],
  };
}

async function galleryAvailability(
  azure: Pick<AzureAdapters, "gallery">,
  versionId: string,
  targets: RegionTarget[],
  now: Date,
  signal: AbortSignal | undefined,
): Promise<ImageAvailability> {
  const version = await azure.gallery.readImageVersion(versionId, signal);
  if (!version.exists)
    return {
      findings: [{ code: "IMAGE_NOT_FOUND", message: `gallery image version ${versionId} does not exist` }],
      replicating: [],
    };
  const findings: PreflightFinding[] = [];
  const replicating: RegionTarget[] = [];
  const regions = [...new Set(targets.map((t) => normalizeRegion(t.location)))].sort();
  const name = parseGalleryImageVersionId(versionId)?.version;
  const facts: ImageFacts = {
    reference: { id: versionId },
    ...(name ? { version: name } : {}),
    ...(version.publishedDate ? { publishedDate: version.publishedDate } : {}),
    ...(version.endOfLifeDate ? { endOfLifeDate: version.endOfLifeDate } : {}),
    excludeFromLatest: version.excludeFromLatest,
    replication: Object.fromEntries(
      regions.map((region) => [
        region,
        version.replication[region] ?? (version.targetRegions.includes(region) ? "unknown" : "notTargeted"),
      ]),
    ),
    readAt: now.toISOString(),
  };
  if (version.endOfLifeDate && Date.parse(version.endOfLifeDate) <= now.getTime())
    findings.push({
      code: "IMAGE_END_OF_LIFE",
      message: `gallery image version ${versionId} reached its end-of-life date ${version.endOfLifeDate}`,
    });
  for (const target of targets) {
    const region = normalizeRegion(target.location);
    const state = version.replication[region];
    if (!version.targetRegions.includes(region) && state === undefined) {
      findings.push({
        scaleSetId: target.scaleSetId,
        region: target.location,
        code: "IMAGE_NOT_IN_REGION",
        message: `gallery image version ${versionId} is not replicated to ${target.location}, where scale set ${target.scaleSetId} runs (target regions: ${version.targetRegions.join(", ") || "none"})`,
      });
    } else if (state === "failed") {
      const details = version.replicationDetails[region];
      findings.push({
        scaleSetId: target.scaleSetId,
        region: target.location,
        code: "REPLICATION_FAILED",
        message: `replication of ${versionId} to region ${target.location} failed${details ? ` (${details})` : ""}; scale set ${target.scaleSetId} runs there`,
      });
    } else if (state !== "completed") {
      replicating.push(target);
    }
  }
  return { findings, replicating, facts };
}

async function marketplaceAvailability(
  azure: Pick<AzureAdapters, "marketplace">,
  image: { publisher: string; offer: string; sku: string; version: string },
  targets: RegionTarget[],
  now: Date,
  signal: AbortSignal | undefined,
): Promise<ImageAvailability> {
  const findings: PreflightFinding[] = [];
  const replication: Record<string, string> = {};
  const checked = new Map<string, boolean>();
  for (const target of targets) {
    const key = `${target.subscriptionId}/${normalizeRegion(target.location)}`;
    let exists = checked.get(key);
    if (exists === undefined) {
      exists = await azure.marketplace.versionExists(
        target.subscriptionId,
        target.location,
        image,
        image.version,
        signal,
      );
      checked.set(key, exists);
    }
    replication[normalizeRegion(target.location)] = exists ? "available" : "missing";
    if (!exists)
      findings.push({
        scaleSetId: target.scaleSetId,
        region: target.location,
        code: "IMAGE_NOT_IN_REGION",
        message: `marketplace image ${image.publisher}:${image.offer}:${image.sku}:${image.version} is not offered in ${target.location}, where scale set ${target.scaleSetId} runs`,
      });
  }
  return {
    findings,
    replicating: [],
    facts: { reference: { ...image }, version: image.version, replication, readAt: now.toISOString() },
  };
}
