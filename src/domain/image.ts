/**
 * An image reference as ARM's `storageProfile.imageReference` carries it. A gallery image version
 * is named by `id`; a marketplace image by publisher/offer/sku/version. `exactVersion` is what ARM
 * reports as actually deployed when `version` says `latest`.
 */
export interface ImageReference {
  id?: string;
  publisher?: string;
  offer?: string;
  sku?: string;
  version?: string;
  exactVersion?: string;
  sharedGalleryImageId?: string;
  communityGalleryImageId?: string;
}
