/** Azure Compute Gallery image versions: existence, replication per region, end of life. */
import type { GalleryImageVersion } from "@azure/arm-compute";
import { normalizeRegion } from "../domain/image-reference.ts";
import type { AzureClients } from "./clients.ts";
import { isNotFound, wrapAzureError } from "./errors.ts";
import { galleryImageVersionId, galleryImageVersionRef } from "./resource-id.ts";
import { newestVersion } from "./versions.ts";

export type RegionReplicationState = "completed" | "replicating" | "failed" | "unknown";

export interface ImageVersionFacts {
  id: string;
  exists: boolean;
  /** Normalised short region names (`westeurope`). */
  targetRegions: string[];
  /** Replication state per normalised region, as `$expand=ReplicationStatus` reports it. */
  replication: Record<string, RegionReplicationState>;
  /** Azure's explanation per region where replication failed. */
  replicationDetails: Record<string, string>;
  endOfLifeDate?: string;
  publishedDate?: string;
  excludeFromLatest: boolean;
}

export interface GalleryAdapter {
  readImageVersion(versionId: string, signal?: AbortSignal): Promise<ImageVersionFacts>;
  /**
   * The newest version of the image definition `versionId` belongs to (its `latest`), skipping
   * versions excluded from latest; undefined when the image has none.
   */
  resolveLatestVersionId(versionId: string, signal?: AbortSignal): Promise<string | undefined>;
}

export function createGalleryAdapter(clients: AzureClients): GalleryAdapter {
  return {
    async readImageVersion(versionId, signal) {
      const ref = galleryImageVersionRef(versionId);
      let version: GalleryImageVersion;
      try {
        version = await clients
          .compute(ref.subscriptionId)
          .galleryImageVersions.get(ref.resourceGroup, ref.gallery, ref.image, ref.version, {
            expand: "ReplicationStatus",
            ...(signal ? { abortSignal: signal } : {}),
          });
      } catch (error) {
        if (isNotFound(error))
          return {
            id: versionId,
            exists: false,
            targetRegions: [],
            replication: {},
            replicationDetails: {},
            excludeFromLatest: false,
          };
        throw wrapAzureError(`reading gallery image version ${versionId}`, error);
      }
      return toImageVersionFacts(versionId, version);
    },
    async resolveLatestVersionId(versionId, signal) {
      const ref = galleryImageVersionRef(versionId);
      const names: string[] = [];
      try {
        const pages = clients
          .compute(ref.subscriptionId)
          .galleryImageVersions.listByGalleryImage(
            ref.resourceGroup,
            ref.gallery,
            ref.image,
            signal ? { abortSignal: signal } : {},
          );
        for await (const version of pages) {
          if (
            version.name &&
            version.name.toLowerCase() !== "latest" &&
            !version.publishingProfile?.excludeFromLatest
          )
            names.push(version.name);
        }
      } catch (error) {
        throw wrapAzureError(`listing versions of gallery image ${ref.gallery}/${ref.image}`, error);
      }
      const newest = newestVersion(names);
      return newest === undefined ? undefined : galleryImageVersionId({ ...ref, version: newest });
    },
  };
}

export function toImageVersionFacts(id: string, version: GalleryImageVersion): ImageVersionFacts {
  const replication: Record<string, RegionReplicationState> = {};
  const replicationDetails: Record<string, string> = {};
  for (const entry of version.replicationStatus?.summary ?? []) {
    if (!entry.region) continue;
    const region = normalizeRegion(entry.region);
    replication[region] = replicationState(entry.state);
    if (entry.details) replicationDetails[region] = entry.details;
  }
  const facts: ImageVersionFacts = {
    id,
    exists: true,
    targetRegions: (version.publishingProfile?.targetRegions ?? []).map((region) =>
      normalizeRegion(region.name),
    ),
    replication,
    replicationDetails,
    excludeFromLatest: version.publishingProfile?.excludeFromLatest ?? false,
  };
  const endOfLife = version.publishingProfile?.endOfLifeDate;
  if (endOfLife) facts.endOfLifeDate = new Date(endOfLife).toISOString();
  const published = version.publishingProfile?.publishedDate;
  if (published) facts.publishedDate = new Date(published).toISOString();
  return facts;
}

function replicationState(state: string | undefined): RegionReplicationState {
  switch (state?.toLowerCase()) {
    case "completed":
      return "completed";
    case "replicating":
      return "replicating";
    case "failed":
      return "failed";
    default:
      return "unknown";
  }
}
