/** Functions over ImageReference: parse what users write, compare what ARM says, print for people. */
import type { ImageReference } from "./image.ts";
import type { RolloutSpec } from "./spec.ts";

export interface GalleryImageVersionParts {
  subscriptionId: string;
  resourceGroup: string;
  gallery: string;
  image: string;
  version: string;
}

export interface ImageUrnParts {
  publisher: string;
  offer: string;
  sku: string;
  version: string;
}

const galleryVersionIdPattern =
  /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Compute\/galleries\/([^/]+)\/images\/([^/]+)\/versions\/([^/]+)$/i;

/** A gallery image definition (no version): a model naming it runs the definition's latest version. */
const galleryDefinitionIdPattern =
  /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.Compute\/galleries\/([^/]+)\/images\/([^/]+)$/i;

/** Gallery image versions are named MAJOR.MINOR.PATCH with 32-bit integers. */
const galleryVersionNamePattern = /^(0|[1-9]\d{0,9})\.(0|[1-9]\d{0,9})\.(0|[1-9]\d{0,9})$/;

export function parseGalleryImageVersionId(id: string): GalleryImageVersionParts | undefined {
  const m = galleryVersionIdPattern.exec(id);
  if (!m) return undefined;
  const [, subscriptionId, resourceGroup, gallery, image, version] = m;
  if (!subscriptionId || !resourceGroup || !gallery || !image || !version) return undefined;
  return { subscriptionId, resourceGroup, gallery, image, version };
}

/** The gallery and image of an image definition id (no `/versions/…`), undefined for anything else. */
export function parseGalleryImageDefinitionId(id: string): { gallery: string; image: string } | undefined {
  const m = galleryDefinitionIdPattern.exec(id);
  return m?.[3] && m[4] ? { gallery: m[3], image: m[4] } : undefined;
}

/** The image definition of a gallery image version or definition id. */
export function galleryImageDefinitionOf(id: string): string {
  return id.replace(/\/versions\/[^/]+\/?$/i, "");
}

/** True for `latest` or a MAJOR.MINOR.PATCH gallery version name. */
export function isValidGalleryVersionName(version: string): boolean {
  return isLatest(version) || galleryVersionNamePattern.test(version);
}

export function parseImageUrn(urn: string): ImageUrnParts | undefined {
  const parts = urn.split(":");
  if (parts.length !== 4) return undefined;
  const [publisher, offer, sku, version] = parts;
  if (!publisher || !offer || !sku || !version) return undefined;
  if ([publisher, offer, sku, version].some((p) => /\s/.test(p))) return undefined;
  return { publisher, offer, sku, version };
}

export function isLatest(version: string | undefined): boolean {
  return version?.toLowerCase() === "latest";
}

/** The ImageReference a model should carry for the spec's `image`. */
export function imageReferenceFromSpec(image: RolloutSpec["image"]): ImageReference {
  if ("galleryImageVersionId" in image) return { id: image.galleryImageVersionId };
  const parts = parseImageUrn(image.urn);
  if (!parts) return {};
  return { publisher: parts.publisher, offer: parts.offer, sku: parts.sku, version: parts.version };
}

/**
 * Whether the reference asks for `latest` rather than an exact version: a gallery id ending in
 * /versions/latest, a gallery image definition id (no version at all), or a urn version `latest`.
 */
export function referencesLatest(ref: ImageReference): boolean {
  if (ref.id) return isLatest(parseGalleryImageVersionId(ref.id)?.version) || isGalleryDefinition(ref.id);
  return isLatest(ref.version);
}

function isGalleryDefinition(id: string): boolean {
  return parseGalleryImageDefinitionId(id) !== undefined;
}

function eqi(a: string | undefined, b: string | undefined): boolean {
  return (a ?? "").toLowerCase() === (b ?? "").toLowerCase();
}

/** The version actually deployed: `exactVersion` when the reference says `latest`. */
export function effectiveVersion(ref: ImageReference): string | undefined {
  if (ref.id) {
    const v = parseGalleryImageVersionId(ref.id)?.version;
    return (isLatest(v) || isGalleryDefinition(ref.id)) && ref.exactVersion ? ref.exactVersion : v;
  }
  return isLatest(ref.version) && ref.exactVersion ? ref.exactVersion : ref.version;
}

/**
 * Whether two references name the same image. ARM ids compare case-insensitively; `exactVersion`
 * is what ARM reports, not what the model says, so it does not make two models different.
 */
export function sameImage(a: ImageReference, b: ImageReference): boolean {
  if (a.id || b.id) return eqi(a.id, b.id);
  if (a.sharedGalleryImageId || b.sharedGalleryImageId)
    return eqi(a.sharedGalleryImageId, b.sharedGalleryImageId);
  if (a.communityGalleryImageId || b.communityGalleryImageId) {
    return eqi(a.communityGalleryImageId, b.communityGalleryImageId);
  }
  return (
    eqi(a.publisher, b.publisher) && eqi(a.offer, b.offer) && eqi(a.sku, b.sku) && eqi(a.version, b.version)
  );
}

/** For people: `demoGallery/web 1.1.0` or `Canonical:ubuntu:server:latest (24.04.1)`. */
export function formatImage(ref: ImageReference): string {
  const exact = (v: string | undefined) => (isLatest(v) && ref.exactVersion ? ` (${ref.exactVersion})` : "");
  if (ref.id) {
    const g = parseGalleryImageVersionId(ref.id);
    if (g) return `${g.gallery}/${g.image} ${g.version}${exact(g.version)}`;
    const definition = parseGalleryImageDefinitionId(ref.id);
    if (definition) return `${definition.gallery}/${definition.image} latest${exact("latest")}`;
    return ref.id;
  }
  if (ref.sharedGalleryImageId) return ref.sharedGalleryImageId;
  if (ref.communityGalleryImageId) return ref.communityGalleryImageId;
  return `${ref.publisher ?? "?"}:${ref.offer ?? "?"}:${ref.sku ?? "?"}:${ref.version ?? "?"}${exact(ref.version)}`;
}

/** Azure names regions two ways (`West Europe`, `westeurope`); this is the short form. */
export function normalizeRegion(region: string): string {
  return region.replace(/\s+/g, "").toLowerCase();
}

export function sameRegion(a: string, b: string): boolean {
  return normalizeRegion(a) === normalizeRegion(b);
}
