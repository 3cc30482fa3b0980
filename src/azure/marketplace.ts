/** Marketplace images (publisher:offer:sku:version): does a version exist in a region, which is newest. */
import type { AzureClients } from "./clients.ts";
import { isNotFound, wrapAzureError } from "./errors.ts";
import { newestVersion } from "./versions.ts";

export interface MarketplaceImage {
  publisher: string;
  offer: string;
  sku: string;
}

export interface MarketplaceAdapter {
  versionExists(
    subscriptionId: string,
    region: string,
    image: MarketplaceImage,
    version: string,
    signal?: AbortSignal,
  ): Promise<boolean>;
  /** The newest version offered in the region (what `latest` means there); undefined when none. */
  latestVersion(
    subscriptionId: string,
    region: string,
    image: MarketplaceImage,
    signal?: AbortSignal,
  ): Promise<string | undefined>;
}

export function createMarketplaceAdapter(clients: AzureClients): MarketplaceAdapter {
  return {
    async versionExists(subscriptionId, region, image, version, signal) {
      try {
        await clients
          .compute(subscriptionId)
          .virtualMachineImages.get(
            region,
            image.publisher,
            image.offer,
            image.sku,
            version,
            signal ? { abortSignal: signal } : {},
          );
        return true;
      } catch (error) {
        if (isNotFound(error)) return false;
        throw wrapAzureError(`reading marketplace image ${describe(image)}:${version} in ${region}`, error);
      }
    },
    async latestVersion(subscriptionId, region, image, signal) {
      try {
        const versions = await clients
          .compute(subscriptionId)
          .virtualMachineImages.list(
            region,
            image.publisher,
            image.offer,
            image.sku,
            signal ? { abortSignal: signal } : {},
          );
        return newestVersion(versions.map((version) => version.name));
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw wrapAzureError(`listing marketplace image versions of ${describe(image)} in ${region}`, error);
      }
    },
  };
}

const describe = (image: MarketplaceImage) => `${image.publisher}:${image.offer}:${image.sku}`;
